// Who may act on what a session holds (docs/SECURITY.md "What a caller may
// act on"). khod keeps one session for the host; callers of --allow-gid
// share it with root, so every call that changes or reads a gmem checks
// whose it is:
// - root (uid 0) may act on every gmem and on the session as a whole;
// - another caller on a gmem it attached itself: the uid of the connection
//   that attached it, recorded in GmemAttachment.owner_uid;
// - and on the session as a whole (Prepare, Freeze, Restore, Verify, Finish,
//   Cancel: each acts on or hands over every gmem) only when it attached
//   every gmem the session holds.
// - a session has one owner: the uid whose Attach put its first gmem in
//   (derived from the gmems' owner_uid, so it is as durable as they are).
//   While it holds gmems, only that uid attaches more, root included: no
//   caller's gmem joins another's session, where it could veto the owner's
//   live update or be taken for the owner's own under a token both named.
//   Root's way into another uid's session is Cancel and Detach.
// - and on a VM (a vm_token: its type and memslots) only when every gmem
//   bound to it is one it may act on, so that no caller adds memory to, or
//   learns the layout of, a VM another user declared;
// GetSnapshot is root's alone (its blob holds PFNs: Session::GetSnapshot).
// A gmem recorded without an owner (a record of a khod before owner_uid) is
// root's. Status is not checked: it names gmems, never their PFNs or pages.
#ifndef KHOD_DAEMON_GMEM_OWNERSHIP_H_
#define KHOD_DAEMON_GMEM_OWNERSHIP_H_

#include <string>

#include "common/status.h"
#include "daemon/caller_access.h"
#include "daemon/session_record.pb.h"

namespace khod {

// OK when `caller` may act on `gmem`; PERMISSION_DENIED naming the caller,
// `op`, the gmem and its owner otherwise.
Status CheckOwnsGmem(const PeerCred& caller, const v1::GmemAttachment& gmem, const std::string& op);

// OK when `caller` may act on VM `vm_token` of `session`: on every gmem bound
// to it (GmemAttachment.vm_token, or a memslot of the VM's record); a VM the
// session does not hold yet is the caller's to declare. PERMISSION_DENIED
// naming the VM and the first gmem otherwise, and nothing of the VM's type or
// memslots.
Status CheckOwnsVm(const PeerCred& caller, const v1::SessionRecord& session, uint64_t vm_token,
                   const std::string& op);

// OK when `caller` may act on every gmem `session` holds (none: OK); the
// first gmem it may not act on is named otherwise.
Status CheckOwnsSession(const PeerCred& caller, const v1::SessionRecord& session,
                        const std::string& op);

// OK when `caller` may Attach to `session`: it holds no gmem, or only gmems
// of the caller's uid (root too is refused another uid's session).
// PERMISSION_DENIED naming the owner (or owners, in the record of a khod
// before one owner a session), how many gmems it holds, and what the caller
// can do: wait for the session to end, or, root, Cancel it and Detach them.
Status CheckMayAttach(const PeerCred& caller, const v1::SessionRecord& session);

}  // namespace khod

#endif  // KHOD_DAEMON_GMEM_OWNERSHIP_H_
