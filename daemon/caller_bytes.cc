#include "daemon/caller_bytes.h"

#include <sys/stat.h>
#include <sys/sysinfo.h>

#include <cerrno>

namespace khod {

Status CheckCallerBytes(const PeerCred& caller, const v1::SessionRecord& record,
                        const std::map<uint64_t, uint64_t>& sizes, uint64_t adding,
                        const std::string& what) {
  if (caller.is_root()) return Status::Ok();
  struct sysinfo si;
  if (::sysinfo(&si) != 0) return Status::FromErrno("Attach: sysinfo", errno);
  const uint64_t host = (static_cast<uint64_t>(si.totalram) + si.totalswap) * si.mem_unit;
  uint64_t held = 0;
  for (const auto& g : record.gmems())
    if (g.has_owner_uid() && g.owner_uid() == caller.uid)
      if (auto it = sizes.find(g.token()); it != sizes.end()) held += it->second;
  if (adding <= host && held <= host - adding) return Status::Ok();
  return Status::ResourceExhausted(
      "Attach: " + what + " of " + std::to_string(adding) + " bytes would bring caller uid " +
      std::to_string(caller.uid) + "'s gmems to more than the host's RAM and swap (" +
      std::to_string(host) + " bytes; it holds " + std::to_string(held) +
      "): a caller other than root attaches no more than its files could hold");
}

Status CheckNotGrown(const v1::GmemAttachment& gmem, int fd, uint64_t taken_bytes) {
  if (!gmem.has_owner_uid() || gmem.owner_uid() == 0 || fd < 0) return Status::Ok();
  const uint64_t attached = gmem.has_attached_bytes() ? gmem.attached_bytes() : taken_bytes;
  struct stat st;
  if (::fstat(fd, &st) != 0 || static_cast<uint64_t>(st.st_size) <= attached) return Status::Ok();
  return Status::FailedPrecondition(
      "gmem " + std::to_string(gmem.token()) + " ('" + gmem.name() + "') of uid " +
      std::to_string(gmem.owner_uid()) + " grew from " + std::to_string(attached) + " to " +
      std::to_string(st.st_size) +
      " bytes since it was attached: detach it and attach it again at its new size");
}

}  // namespace khod
