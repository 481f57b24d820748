// What the new side may rely on of a frozen guest_memfd's creation flags
// (GUEST_MEMFD_FLAG_MMAP, GUEST_MEMFD_FLAG_INIT_SHARED), and the two
// decisions taken on it: the flags a rebuild creates a guest_memfd with, and
// whether a guest_memfd the VMM offers (rebuild_into) can stand for it.
//
// Userspace cannot read a guest_memfd's creation flags: a capture infers MMAP
// from mmap(PROT_NONE) working or failing with ENODEV, and INIT_SHARED only
// from positive evidence (a page of the file mapped shared), so a file whose
// pages were never used looks MMAP-only and flags INIT_SHARED alone look like
// none (GuestMemfd::flags_known, docs/FORMAT.md "Observation"). A bit is known
// when the capture observed it or the VMM declared it (AttachRequest.gmem_flags).
// Restore never creates a guest_memfd with a flag it guessed: a wrong guess is
// a file private where the guest's memory was shared (the VMM's access faults)
// or the reverse, and nothing after Restore could tell.
#ifndef KHOD_RESTORE_GMEM_FLAGS_H_
#define KHOD_RESTORE_GMEM_FLAGS_H_

#include <cstdint>
#include <optional>
#include <string>

#include "common/status.h"
#include "kernel/kvm_uapi.h"
#include "state/snapshot.h"

namespace khod {

// The creation flag bits a guest_memfd can have.
constexpr uint64_t kDefinedGmemFlags = uapi::kGuestMemfdFlagMmap | uapi::kGuestMemfdFlagInitShared;

// "MMAP|INIT_SHARED", "MMAP", "none"; bits no flag has as hex.
std::string GmemFlagNames(uint64_t bits);

// Bits of `mask` are known, their values in `flags` (always inside `mask`).
struct KnownGmemFlags {
  uint64_t flags = 0;
  uint64_t mask = 0;
  bool operator==(const KnownGmemFlags& o) const { return flags == o.flags && mask == o.mask; }
};

// What is known of `frozen`'s defined creation flags: the bits the capture
// observed (flags_known), a bit set in `flags` outside flags_known (by the
// format only a declaration sets one there: an unknown bit reads 0), and,
// when the VMM declared flags at Attach (`declared`: the whole declared value,
// as the session record holds it; a declaration covers every defined bit), the
// declaration. A declaration that contradicts what the capture observed or
// what the snapshot carries as declared is FailedPrecondition naming the gmem
// and both values. Memfds: every bit known (their flags do not apply).
Result<KnownGmemFlags> KnownFrozenGmemFlags(const GuestMemfd& frozen,
                                            std::optional<uint64_t> declared);

// The flags a rebuild creates `frozen` with when it is a guest_memfd: its
// known flags, when every defined bit is known. Otherwise FailedPrecondition
// naming the gmem, the bits neither declared nor observed and what is known,
// and the way out: an offer in rebuild_into of a guest_memfd the VMM made with
// the right flags (and, for later handovers, gmem_flags declared at Attach).
// Bits no flag has pass through as the snapshot holds them (the kernel refuses
// them by name). Memfds: `frozen.flags`.
Result<uint64_t> RebuildGmemFlags(const GuestMemfd& frozen, std::optional<uint64_t> declared);

// Whether a guest_memfd offered for `frozen`, whose mmap(PROT_NONE) works
// (`offer_mappable`) or fails with ENODEV, can stand for it: where the frozen
// MMAP bit is known (observed, or carried as declared) it must be the offer's;
// otherwise anything is accepted. FailedPrecondition "<offer>: ..." naming
// what the offer is and what the frozen file had.
Status CheckOfferedGmemMmap(const GuestMemfd& frozen, bool offer_mappable,
                            const std::string& offer);

// The same for INIT_SHARED, of an offer made with MMAP whose pages are shared
// with the host (`offer_shared`, kernel/gmem_shared_probe.h) or private: where
// the frozen bit is known it must be the offer's, else a guest whose memory
// was shared comes back on private pages (the VMM's first access faults), or
// the reverse. Otherwise anything is accepted.
Status CheckOfferedGmemInitShared(const GuestMemfd& frozen, bool offer_shared,
                                  const std::string& offer);

// `frozen` as a rebuild makes it: created with `flags` (every defined bit
// known), everything else as the snapshot holds it.
GuestMemfd RebuildDescription(const GuestMemfd& frozen, uint64_t flags);

}  // namespace khod

#endif  // KHOD_RESTORE_GMEM_FLAGS_H_
