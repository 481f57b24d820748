#include "daemon/caller_access.h"

#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <optional>
#include <sstream>

#include "common/numbers.h"
#include "common/text_lines.h"
#include "common/unique_fd.h"
#include "kernel/pidfd.h"

namespace khod {
namespace {

// "Uid:" / "Gid:" of /proc/PID/status: real, effective, saved, filesystem.
// Exactly four numbers separated by white space, nothing else on the line.
bool ReadIds(const std::string& status, const char* key, uint64_t ids[4]) {
  std::istringstream in(status);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) != 0) continue;
    std::istringstream fields(line.substr(std::string(key).size()));
    std::string field;
    int n = 0;
    while (fields >> field) {
      const std::optional<uint64_t> v = n < 4 ? ParseU64(field) : std::nullopt;
      if (!v) return false;
      ids[n++] = *v;
    }
    return n == 4;
  }
  return false;
}

// "CapPrm:" of /proc/PID/status: the permitted capabilities, one hex number.
std::optional<uint64_t> ReadPermittedCaps(const std::string& status) {
  std::optional<uint64_t> caps;
  (void)ForEachLine(status, [&caps](std::string_view line) {
    if (const std::optional<std::string_view> v = FieldValue(line, "CapPrm:"))
      caps = ParseHexU64(*v);
    return Status::Ok();
  });
  return caps;
}

// What a caller other than root is told of a process it may not act on,
// whatever the reason: its uid, gid, capabilities and dumpability, and
// whether it exists at all, are the target's, which /proc (hidepid=2) may
// hide from the caller; one answer for all of them tells it nothing.
Status NotYours(const PeerCred& c, pid_t pid, const std::string& what) {
  return Status::PermissionDenied("caller uid " + std::to_string(c.uid) + " gid " +
                                  std::to_string(c.gid) + " may not have khod take " + what +
                                  " of pid " + std::to_string(pid) +
                                  ": not a process you may act on (it must be yours, not "
                                  "privileged, and dumpable; as ptrace would allow)");
}

// Whether the process behind `proc` ("/proc/PID") passes the ptrace check
// for `caller`, from its credentials as the kernel's check would see them.
bool MayAct(const PeerCred& caller, const std::string& proc) {
  std::ifstream f(proc + "/status");
  std::stringstream text;
  text << f.rdbuf();
  uint64_t uids[4], gids[4];
  if (!ReadIds(text.str(), "Uid:", uids) || !ReadIds(text.str(), "Gid:", gids)) return false;
  for (int i = 0; i < 3; ++i)
    if (uids[i] != caller.uid || gids[i] != caller.gid) return false;
  // ptrace also needs every capability the target may use to be the
  // caller's too; khod credits a caller other than root with none.
  const std::optional<uint64_t> caps = ReadPermittedCaps(text.str());
  if (!caps || *caps != 0) return false;
  // The kernel shows a non-dumpable process's /proc/PID files as root's.
  struct stat st;
  return ::stat((proc + "/status").c_str(), &st) == 0 && st.st_uid == caller.uid;
}

}  // namespace

Status WithCallerAccess(const PeerCred& caller, pid_t pid, const std::string& what,
                        const std::function<Status()>& take) {
  // Root may act on any process: its take's own errors name what went wrong.
  if (caller.is_root()) return take();
  if (pid <= 0)
    return Status::InvalidArgument("pid " + std::to_string(pid) + " is not a process id");
  // Opened before the check: the process checked is the one the pidfd names.
  // No process, or a thread's id, is refused as any other process is.
  Result<UniqueFd> pidfd = OpenPidfd(pid);
  if (!pidfd.ok()) {
    const Status::Code code = pidfd.status().code();
    if (code == Status::Code::kNotFound || code == Status::Code::kInvalidArgument)
      return NotYours(caller, pid, what);
    return pidfd.status();  // khod's own want of fds or memory, nothing of the target
  }
  const std::string proc = "/proc/" + std::to_string(pid);
  // Checked before the take and again after it: a process that changed in
  // between (a setuid program exec'd, made non-dumpable) is refused, and
  // what was taken is dropped by the caller.
  if (!MayAct(caller, proc)) return NotYours(caller, pid, what);
  // A failed take is judged like a successful one: its error names what it
  // found (the file's path, its kind), which is not the caller's to learn of
  // a process that is no longer the one checked.
  const Status taken = take();
  // The process checked above still holds `pid` (it was not reused), and
  // still runs with the credentials checked.
  if (::syscall(SYS_pidfd_send_signal, pidfd->get(), 0, nullptr, 0) != 0 || !MayAct(caller, proc))
    return NotYours(caller, pid, what);
  return taken;
}

}  // namespace khod
