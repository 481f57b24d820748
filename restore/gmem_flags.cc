#include "restore/gmem_flags.h"

#include "common/hex.h"

namespace khod {
namespace {

constexpr uint64_t kMmap = uapi::kGuestMemfdFlagMmap;
constexpr uint64_t kInitShared = uapi::kGuestMemfdFlagInitShared;

std::string GmemOf(const GuestMemfd& g) {
  return "gmem " + std::to_string(g.token) + " ('" + g.name + "')";
}

// "MMAP set, INIT_SHARED unknown": each defined bit as `k` knows it.
std::string KnownText(const KnownGmemFlags& k) {
  std::string s;
  for (uint64_t bit : {kMmap, kInitShared}) {
    s += (s.empty() ? "" : ", ") + GmemFlagNames(bit);
    s += !(k.mask & bit) ? " unknown" : (k.flags & bit) ? " set" : " clear";
  }
  return s;
}

// Why the capture could not show `bit`: how the kernel lets it be seen.
std::string WhyUnseen(uint64_t bit) {
  if (bit == kInitShared)
    return "the kernel shows INIT_SHARED only from a page of the file mapped shared, so a "
           "file none of whose pages was used looks like MMAP alone, and INIT_SHARED alone "
           "like no flags";
  if (bit == kMmap)
    return "MMAP is seen from mmap(PROT_NONE) of the file, and this snapshot does not hold it";
  return "";
}

}  // namespace

std::string GmemFlagNames(uint64_t bits) {
  std::string s;
  if (bits & kMmap) s += "MMAP";
  if (bits & kInitShared) s += std::string(s.empty() ? "" : "|") + "INIT_SHARED";
  if (const uint64_t other = bits & ~kDefinedGmemFlags)
    s += std::string(s.empty() ? "" : "|") + Hex(other);
  return s.empty() ? "none" : s;
}

Result<KnownGmemFlags> KnownFrozenGmemFlags(const GuestMemfd& frozen,
                                            std::optional<uint64_t> declared) {
  if (frozen.kind != FileKind::kGuestMemfd)
    return KnownGmemFlags{frozen.flags & kDefinedGmemFlags, kDefinedGmemFlags};
  const uint64_t observed_mask = frozen.flags_known & kDefinedGmemFlags;
  // A capture writes 0 for a bit it did not observe unless the VMM declared
  // it: a set bit outside flags_known can only be a declaration. A clear one
  // may be a declaration or nothing, so it says nothing.
  const uint64_t carried = frozen.flags & kDefinedGmemFlags & ~frozen.flags_known;
  KnownGmemFlags k{(frozen.flags & observed_mask) | carried, observed_mask | carried};
  if (!declared) return k;
  const uint64_t d = *declared & kDefinedGmemFlags;
  if ((d ^ k.flags) & k.mask)
    return Status::FailedPrecondition(GmemOf(frozen) + ": the creation flags declared at Attach, " +
                                      GmemFlagNames(d) + ", contradict what the snapshot holds (" +
                                      KnownText(k) + ")");
  k.flags |= d & ~k.mask;
  k.mask = kDefinedGmemFlags;
  return k;
}

Result<uint64_t> RebuildGmemFlags(const GuestMemfd& frozen, std::optional<uint64_t> declared) {
  if (frozen.kind != FileKind::kGuestMemfd) return frozen.flags;
  Result<KnownGmemFlags> k = KnownFrozenGmemFlags(frozen, declared);
  if (!k.ok()) return k.status();
  const uint64_t unknown = kDefinedGmemFlags & ~k->mask;
  if (unknown) {
    std::string why;
    for (uint64_t bit : {kMmap, kInitShared})
      if (unknown & bit) why += (why.empty() ? "" : "; ") + WhyUnseen(bit);
    return Status::FailedPrecondition(
        GmemOf(frozen) + ": not rebuilt: a new guest_memfd would need " + GmemFlagNames(unknown) +
        ", neither declared at Attach nor observed by the capture (" + KnownText(*k) +
        "), and khod never creates one with a guessed creation flag (" + why +
        "). Way out: offer in rebuild_into a guest_memfd the VMM made on its VM with the "
        "flags it made this one with; for a later handover, declare gmem_flags at Attach "
        "(0 declares nothing, so a guest_memfd made with no flags is rebuilt only into an "
        "offer)");
  }
  return (frozen.flags & ~kDefinedGmemFlags) | k->flags;
}

namespace {

// Where `bit` of `frozen` is known (the snapshot alone, which cannot
// contradict itself), the offer must have it as `offer_has` says; `offer_is`
// says what the offer showed, with the bit and without it.
Status CheckOfferedGmemBit(const GuestMemfd& frozen, uint64_t bit, bool offer_has,
                           const std::string& offer, const char* offer_is_with,
                           const char* offer_is_without) {
  if (frozen.kind != FileKind::kGuestMemfd) return Status::Ok();
  Result<KnownGmemFlags> k = KnownFrozenGmemFlags(frozen, std::nullopt);
  if (!k.ok() || !(k->mask & bit)) return Status::Ok();
  const bool frozen_has = (k->flags & bit) != 0;
  if (offer_has == frozen_has) return Status::Ok();
  return Status::FailedPrecondition(
      offer + (offer_has ? offer_is_with : offer_is_without) + ", " + GmemOf(frozen) +
      " was made " + (frozen_has ? "with " : "without ") + GmemFlagNames(bit) +
      ": the VMM must make the guest_memfd it offers with the frozen file's flags");
}

}  // namespace

Status CheckOfferedGmemMmap(const GuestMemfd& frozen, bool offer_mappable,
                            const std::string& offer) {
  return CheckOfferedGmemBit(
      frozen, kMmap, offer_mappable, offer,
      " can be mapped (mmap(PROT_NONE) works: made with MMAP)",
      " cannot be mapped (mmap(PROT_NONE) fails with ENODEV: made without MMAP)");
}

Status CheckOfferedGmemInitShared(const GuestMemfd& frozen, bool offer_shared,
                                  const std::string& offer) {
  return CheckOfferedGmemBit(
      frozen, kInitShared, offer_shared, offer,
      " has pages shared with the host (a populate of page 0 works: made with INIT_SHARED)",
      " has private pages (a populate of page 0 fails with EFAULT: made without INIT_SHARED)");
}

GuestMemfd RebuildDescription(const GuestMemfd& frozen, uint64_t flags) {
  GuestMemfd g = frozen;  // every field, so that none added later is dropped
  g.flags = flags;
  g.flags_known = frozen.flags_known | kDefinedGmemFlags;
  return g;
}

}  // namespace khod
