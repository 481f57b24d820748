#include "restore/rebuild_target.h"

#include <algorithm>

#include "common/background_close.h"
#include "common/status_macros.h"
#include "kernel/gmem_shared_probe.h"
#include "kernel/mapping.h"
#include "kernel/memory_file.h"
#include "restore/gmem_flags.h"

namespace khod {
namespace {

const GuestMemfd* FindGmem(const Snapshot& s, uint64_t token) {
  for (const GuestMemfd& g : s.gmems)
    if (g.token == token) return &g;
  return nullptr;
}

std::string Tokens(const Snapshot& s) {
  std::string t;
  for (const GuestMemfd& g : s.gmems) t += (t.empty() ? "" : ", ") + std::to_string(g.token);
  return t.empty() ? "none" : t;
}

}  // namespace

Result<std::map<uint64_t, RebuildTarget>> TakeRebuildTargets(
    const std::vector<RebuildTargetOffer>& offers, const Snapshot& frozen,
    const TakeOfferedFd& take) {
  auto which_of = [](size_t i) { return "rebuild_into[" + std::to_string(i) + "]"; };
  auto where_of = [](const RebuildTargetOffer& o) {
    return "fd " + std::to_string(o.fd) + " of pid " + std::to_string(o.pid);
  };
  // The request's own mistakes first, before any fd is taken.
  std::map<uint64_t, size_t> by_token;
  for (size_t i = 0; i < offers.size(); ++i) {
    const RebuildTargetOffer& o = offers[i];
    if (o.pid <= 0 || o.fd < 0)
      return Status::InvalidArgument(which_of(i) + ": needs pid > 0 and fd >= 0, got " +
                                     where_of(o));
    auto [it, fresh] = by_token.emplace(o.token, i);
    if (!fresh)
      return Status::InvalidArgument(which_of(i) + ": gmem " + std::to_string(o.token) +
                                     " is already offered by " + which_of(it->second));
  }
  std::map<uint64_t, RebuildTarget> taken;
  std::map<uint64_t, size_t> by_inode;  // inode -> offer index
  for (size_t i = 0; i < offers.size(); ++i) {
    const RebuildTargetOffer& o = offers[i];
    const std::string which = which_of(i), where = where_of(o);
    const GuestMemfd* g = FindGmem(frozen, o.token);
    if (!g)
      return Status::InvalidArgument(which + ": gmem token " + std::to_string(o.token) +
                                     " is not in the frozen snapshot (tokens: " + Tokens(frozen) +
                                     ")");
    const std::string gmem = "gmem " + std::to_string(o.token) + " ('" + g->name + "')";
    if (g->provenance == Provenance::kModel || g->kind != FileKind::kGuestMemfd)
      return Status::InvalidArgument(
          which + ": " + gmem + " is " +
          (g->provenance == Provenance::kModel ? std::string("a MODEL guest")
                                               : std::string("a ") + FileKindName(g->kind)) +
          ": only a kernel guest_memfd is rebuilt into a file of the VMM");
    if (o.vm_token != g->vm_token)
      return Status::InvalidArgument(which + ": " + gmem + " belonged to VM " +
                                     std::to_string(g->vm_token) + ", the offer names VM " +
                                     std::to_string(o.vm_token));
    Result<UniqueFd> fd = take ? take(i, o) : TakeFdFromProcess(o.pid, o.fd);
    if (!fd.ok()) return fd.status().WithContext(which);
    Result<MemoryFileIdentity> id = IdentifyMemoryFile(fd->get(), where);
    if (!id.ok()) {
      // Not a memory file: its close may wait on its filesystem's server
      // (kernel/memory_file.h TakeMemoryFileFromProcess), never under the
      // session's lock Restore holds.
      CloseInBackground(std::move(*fd));
      return id.status().WithContext(which + " (must be a guest_memfd)");
    }
    if (id->kind != FileKind::kGuestMemfd)
      return Status::FailedPrecondition(which + ": " + where + " (" + id->link + ") is a " +
                                        FileKindName(id->kind) +
                                        ", not a guest_memfd made on the VMM's VM");
    if (id->size != g->size)
      return Status::FailedPrecondition(which + ": " + where + " is " + std::to_string(id->size) +
                                        " bytes, " + gmem + " was " + std::to_string(g->size));
    // MMAP is the one creation flag a file shows without a fault: an offer
    // without the frozen file's would bring the guest back on a file the VMM
    // cannot map where it could, or the reverse. Refused here, before
    // anything is touched, not left to show as a difference at Verify.
    const uint64_t probe = std::max<uint64_t>(id->size, id->page_size);
    Result<bool> mappable = IsMappable(fd->get(), static_cast<size_t>(probe));
    if (!mappable.ok()) return mappable.status().WithContext(which + ": " + where);
    KHOD_RETURN_IF_ERROR(CheckOfferedGmemMmap(*g, *mappable, which + ": " + where));
    auto dup = by_inode.find(id->inode);
    if (dup != by_inode.end())
      return Status::InvalidArgument(which + ": " + where +
                                     " is the same guest_memfd as rebuild_into[" +
                                     std::to_string(dup->second) + "]");
    // INIT_SHARED shows only to a fault: the offer is new and is about to be
    // filled, so page 0 may be populated (and a page that makes, punched out),
    // but only where the frozen bit is known and the answer decides.
    Result<KnownGmemFlags> known = KnownFrozenGmemFlags(*g, std::nullopt);
    if (*mappable && known.ok() && (known->mask & uapi::kGuestMemfdFlagInitShared)) {
      Result<bool> shared = ProbeGmemPagesShared(fd->get(), id->page_size);
      if (!shared.ok()) return shared.status().WithContext(which + ": " + where);
      KHOD_RETURN_IF_ERROR(CheckOfferedGmemInitShared(*g, *shared, which + ": " + where));
    }
    by_inode[id->inode] = i;
    RebuildTarget t;
    t.fd = std::move(*fd);
    t.what = "guest_memfd " + where + " (VM " + std::to_string(o.vm_token) + ")";
    taken[o.token] = std::move(t);
  }
  return taken;
}

}  // namespace khod
