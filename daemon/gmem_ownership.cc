#include "daemon/gmem_ownership.h"

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

}  // namespace khod
