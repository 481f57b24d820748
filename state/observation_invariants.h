// Invariants of how a guest_memfd was observed (format 1.1): its visibility
// ranges and its policy source. Part of CheckGmem (state/invariants.h).
#ifndef KHOD_STATE_OBSERVATION_INVARIANTS_H_
#define KHOD_STATE_OBSERVATION_INVARIANTS_H_

#include <vector>

#include "state/hugetlb_invariants.h"  // GmemWhere
#include "state/invariants.h"

namespace khod {

// Visibility, when not empty: ranges with count > 0, ordered, disjoint and
// covering [0, pages) exactly, each a known PageVisibility; no folio extent
// or content hash inside a kNone range; no known PFN and no hash inside a
// kInitializedOnly range (neither can be observed there).
void CheckVisibility(const GuestMemfd& g, uint64_t pages, std::vector<Violation>* out);

// Policy source a known PolicySource; mapping policies only with
// kVmmMappings, each with count > 0 and inside the file, ordered by
// (first_index, pid, start_address); an inode policy (other than default)
// only with kInode: a policy not read from the inode is never claimed as its.
void CheckPolicySource(const GuestMemfd& g, uint64_t pages, std::vector<Violation>* out);

}  // namespace khod

#endif  // KHOD_STATE_OBSERVATION_INVARIANTS_H_
