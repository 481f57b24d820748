// What a verify compared, real memory and MODEL apart. A MODEL guest's
// frames are made up by khod's model (a 1 TiB one has 268 M of them), so a
// count that mixed them with kernel PFNs would read as real memory checked.
// One text for every place that shows a verdict (khoctl, rehearsal, Status).
#ifndef KHOD_VERIFY_VERIFY_COUNTS_H_
#define KHOD_VERIFY_VERIFY_COUNTS_H_

#include <cstdint>
#include <string>

#include "state/snapshot.h"

namespace khod {

struct VerifyCounts {
  // gmems of kernel provenance: memory this kernel really holds.
  uint64_t real_pages = 0;  // resident pages of the frozen lists, where both sides observed in full
  uint64_t real_pfns = 0;   // of those, pages whose PFN both sides saw
  uint64_t real_hashes = 0;  // content hashes compared (over pages both observed in full)
  std::string real_kinds;    // "shmem-memfd/hugetlb-memfd"; empty: no real gmem observed in full
  // Real gmems none of whose pages were observed in full ("guest_memfd"): not
  // counted above, named so that real memory is never said to be absent.
  std::string real_unobserved_kinds;
  // Of real_pfns, pages whose folio flags were carried over from Freeze, not
  // read again: still mapped at the same PFN since (capture/flag_reuse.h).
  uint64_t real_flags_carried = 0;
  // Pages a PTE keeper vouched for instead of a page-table walk (capture/pte_witness.h).
  uint64_t real_pages_witnessed = 0;
  uint64_t real_pages_walked = 0;  // VerifyReply.real_pages_walked
  // VMM processes whose mappings' policies were read from their VMAs, and
  // through numa_maps (CaptureStats, VerifyReply.vmm_policies_*).
  uint64_t vmm_policies_from_vmas = 0;
  uint64_t vmm_policies_from_numa_maps = 0;
  // gmems of MODEL (or synthetic) provenance: the model's frames.
  uint64_t model_pages = 0;
  uint64_t model_hashes = 0;
};

// "81919 real PFNs (shmem-memfd/hugetlb-memfd) and 22853 content hashes
// unchanged; MODEL: 268435456 pages compared" (`equal`), or the same with
// "compared" for a verify that found differences. Carried flags are said
// ("folio flags of 81919 pages carried from Freeze, mapped at the same PFN since").
std::string VerifyCountsText(const VerifyCounts& c, bool equal);

// "; VMM NUMA policies: 24 processes read from their VMAs, 1 through
// numa_maps, a walk of every page mapped", or "" when none were read: what a
// capture round that read VMM mappings says of them (Freeze and Verify).
std::string VmmPolicyReadsText(uint64_t from_vmas, uint64_t from_numa_maps);

// What DiffSnapshots(expected, found) compares, real and MODEL apart, per
// gmem present on both sides (one on one side only is a difference, nothing
// of it compared): `expected`'s resident pages where both observed them in
// full (CombinedVisibility; pages either saw otherwise are not verified); of
// those, pages whose PFN both saw (a page `found` holds with its PFN unseen is
// not verified; one it holds as a hole was compared, and differs); and
// `expected`'s hashes over pages both observed in full that `found` has a
// hash over the very same pages of (MatchHashes, verify/snapshot_diff.h: the
// diff's one definition of a content hash compared). Never counts from one
// side what the other did not see. Pages and PFNs: O(1) per gmem when both
// observed every page in full and `found` saw every PFN (FolioListFacts), per
// extent otherwise; hashes: one walk of both lists.
VerifyCounts CountCompared(const Snapshot& expected, const Snapshot& found);

}  // namespace khod

#endif  // KHOD_VERIFY_VERIFY_COUNTS_H_
