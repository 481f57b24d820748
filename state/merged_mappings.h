// The VMM mappings of a file as mappings, not as the VMAs the kernel shows:
// the one rule by which Verify compares them (verify/snapshot_diff.h) and by
// which Restore and Verify count them in what they say, so that both name the
// same number for the same mappings.
#ifndef KHOD_STATE_MERGED_MAPPINGS_H_
#define KHOD_STATE_MERGED_MAPPINGS_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "state/snapshot.h"

namespace khod {

// A VMA the kernel split (an mprotect or madvise of part of it) reads as
// mappings that follow each other in the file and in one process's address
// space, with one policy: one mapping however it was cut, on either side.
// `v` in GuestMemfd::mapping_policies' order; the result in the order of each
// mapping's first piece, `page_size` the unit of their page indexes.
// (restore's MappingPoliciesForVmm merges by another rule, for the VMM: it
// drops default policies and joins across processes and addresses.)
std::vector<MappingPolicy> MergedMappings(const std::vector<MappingPolicy>& v, uint32_t page_size);

// How many mappings of `v`, merged as MergedMappings does, have a policy
// other than default.
size_t MappingsWithPolicy(const std::vector<MappingPolicy>& v, uint32_t page_size);

}  // namespace khod

#endif  // KHOD_STATE_MERGED_MAPPINGS_H_
