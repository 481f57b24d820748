// Whether a caller of khod may have khod take memory from a process: khod is
// root and the kernel would let it take any process's files, read their
// PFNs and hash their pages, so khod decides for the caller, with the rules
// of ptrace_may_access (PTRACE_MODE_ATTACH_REALCREDS) applied to the
// caller's SO_PEERCRED credentials (docs/SECURITY.md "What a caller may
// attach"):
// - root (uid 0) may name any process;
// - anyone else only a process whose real, effective and saved uids all
//   equal the caller's uid, whose real, effective and saved gids all equal
//   the caller's gid, and which is dumpable (the files of a non-dumpable
//   process's /proc/PID are owned by root, which is how the kernel shows it).
#ifndef KHOD_DAEMON_CALLER_ACCESS_H_
#define KHOD_DAEMON_CALLER_ACCESS_H_

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "common/status.h"

namespace khod {

// Who is calling: a connection's SO_PEERCRED (daemon/peer_auth.h). The
// default is root: in-process callers (tests, khod itself).
struct PeerCred {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary, as the peer had them when it connected
  bool is_root() const { return uid == 0; }
};

// Runs `take` (which takes something from process `pid`) only if `caller`
// may access `pid`, and keeps its result only if the process checked is
// still the one that holds `pid` afterwards (a pidfd opened before the check
// is still alive) and still passes the check (a setuid program exec'd in
// between makes it non-dumpable), so neither a pid reused nor a process
// changed in between hands over another user's memory. Otherwise one
// PERMISSION_DENIED, "... `what` of pid N: not a process you may act on
// (...)", the same whatever the reason and for a pid naming no process or a
// thread: which of its ids, capabilities or dumpability failed, and whether
// it exists, is the target's, not the caller's to learn (it gets around
// /proc's hidepid). The caller drops what `take` took; nothing about the
// target is read for a refused caller but its ids. Root is not checked: it
// gets `take`'s own error, which says what went wrong (no such process...).
Status WithCallerAccess(const PeerCred& caller, pid_t pid, const std::string& what,
                        const std::function<Status()>& take);

}  // namespace khod

#endif  // KHOD_DAEMON_CALLER_ACCESS_H_
