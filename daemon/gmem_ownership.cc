#include "daemon/gmem_ownership.h"

#include <set>

namespace khod {

Status CheckOwnsGmem(const PeerCred& caller, const v1::GmemAttachment& gmem,
                     const std::string& op) {
  if (caller.is_root()) return Status::Ok();
  if (gmem.has_owner_uid() && gmem.owner_uid() == caller.uid) return Status::Ok();
  const std::string owner = gmem.has_owner_uid() ? "uid " + std::to_string(gmem.owner_uid())
                                                 : std::string("root (recorded without an owner)");
  return Status::PermissionDenied(op + ": caller uid " + std::to_string(caller.uid) +
                                  " may not act on gmem " + std::to_string(gmem.token()) + " ('" +
                                  gmem.name() + "'), attached by " + owner +
                                  " (a caller other than root acts only on gmems it attached)");
}

Status CheckOwnsVm(const PeerCred& caller, const v1::SessionRecord& session, uint64_t vm_token,
                   const std::string& op) {
  if (caller.is_root()) return Status::Ok();
  std::set<uint64_t> bound;
  for (const v1::VmRecord& vm : session.vms())
    if (vm.token() == vm_token) bound.insert(vm.memslot_gmem().begin(), vm.memslot_gmem().end());
  for (const v1::GmemAttachment& g : session.gmems()) {
    if (g.vm_token() != vm_token && !bound.count(g.token())) continue;
    Status s = CheckOwnsGmem(caller, g, op);
    if (!s.ok())
      return Status::PermissionDenied(op + ": caller uid " + std::to_string(caller.uid) +
                                      " may not act on VM " + std::to_string(vm_token) + ": gmem " +
                                      std::to_string(g.token()) +
                                      " bound to it is another user's (a caller other than root "
                                      "acts only on VMs whose every gmem it attached)");
  }
  return Status::Ok();
}

Status CheckOwnsSession(const PeerCred& caller, const v1::SessionRecord& session,
                        const std::string& op) {
  if (caller.is_root()) return Status::Ok();
  for (const v1::GmemAttachment& g : session.gmems()) {
    Status s = CheckOwnsGmem(caller, g, op);
    if (!s.ok())
      return Status::PermissionDenied(s.message() +
                                      "; it acts on the whole session only when it attached "
                                      "every gmem of it");
  }
  return Status::Ok();
}

Status CheckMayAttach(const PeerCred& caller, const v1::SessionRecord& session) {
  // A gmem recorded without an owner is root's.
  std::set<uint32_t> owners;
  for (const v1::GmemAttachment& g : session.gmems())
    owners.insert(g.has_owner_uid() ? g.owner_uid() : 0);
  if (owners.empty() || (owners.size() == 1 && *owners.begin() == caller.uid)) return Status::Ok();
  std::string owner;
  for (uint32_t uid : owners) {
    if (!owner.empty()) owner += " and ";
    owner += "uid " + std::to_string(uid) + (uid == 0 ? " (root)" : "");
  }
  if (owners.size() > 1) owner += " (a record of a khod before one owner a session)";
  return Status::PermissionDenied(
      "Attach: caller uid " + std::to_string(caller.uid) +
      " may not attach to this session: it is owned by " + owner + ", whose " +
      std::to_string(session.gmems_size()) +
      " gmems it holds (a session has one owner, the uid whose Attach put its first gmem in, "
      "and takes no other uid's gmem); wait for it to end (Finish, or every gmem detached); "
      "root may Cancel it and Detach its gmems");
}

}  // namespace khod
