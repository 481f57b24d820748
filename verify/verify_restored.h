// Verify: is the restored state the frozen one? Captures of the restored
// objects are compared with the snapshot that was handed over using the
// shared snapshot diff (verify/snapshot_diff.h), and the restored snapshot
// must pass the shared invariant checker. "Memory stayed in place" means the
// folio list with its PFNs is equal where both captures observed it in full;
// where the frozen snapshot hashed contents, the restored capture must carry
// equal hashes. What either capture could not observe (pages, PFNs), the
// policies of the VMM's mappings (the VMM re-applies them after it takes its
// memory back) and what the VMM declared (memslots, a kernel file's
// attributes) are listed as not verified (verify/verdict.h).
#ifndef KHOD_VERIFY_VERIFY_RESTORED_H_
#define KHOD_VERIFY_VERIFY_RESTORED_H_

#include <cstdint>
#include <set>

#include "state/snapshot.h"
#include "verify/snapshot_diff.h"
#include "verify/verify_counts.h"

namespace khod {

struct RestoreVerdict {
  SnapshotDiff diff;    // differences (diff and invariant violations), counts, unverified
  VerifyCounts counts;  // what was compared, real (kernel) and MODEL apart
  bool equal() const { return diff.equal(); }
};

// `show_pfns`: DiffOptions::show_pfns, for whom the verdict is. `rebuilt`:
// the tokens of kernel files Restore made anew (new, empty memory): where
// either capture saw nothing of a page of one (a guest_memfd made without
// MMAP; a frozen blob of format 1.0 says every page was seen), nothing in the
// comparison would tell it from the file carried across, so it is named
// (UnverifiedKind::kRebuiltMemory), never left to pass as memory kept.
RestoreVerdict VerifyRestored(const Snapshot& frozen, const Snapshot& restored,
                              bool show_pfns = true, const std::set<uint64_t>& rebuilt = {});

}  // namespace khod

#endif  // KHOD_VERIFY_VERIFY_RESTORED_H_
