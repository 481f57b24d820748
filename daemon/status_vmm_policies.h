// The NUMA ranges a StatusReply lists for the VMMs to bind (GmemInfo.vmm_policies), bounded
// over the whole reply: a gmem is handed at most 4096 of them (restore/policy_restore.h), and
// the reply as a whole lists at most kMaxVmmPoliciesInStatus, so that gmems whose VMMs map
// their files in thousands of mappings of alternating policies cannot push it past gRPC's
// 4 MiB for every client. A range not listed is said, never dropped in silence.
#ifndef KHOD_DAEMON_STATUS_VMM_POLICIES_H_
#define KHOD_DAEMON_STATUS_VMM_POLICIES_H_

#include <cstddef>
#include <vector>

#include "proto/khod.pb.h"
#include "state/snapshot.h"

namespace khod {

// About 650 KB of a reply.
constexpr size_t kMaxVmmPoliciesInStatus = 16384;

// Appends `ranges` to `info` as VmmPolicy entries while `*budget` lasts, taking one from it
// for each; `budget` nullptr: all of them. The ranges left out are counted in info's
// policy_note. Returns how many were listed.
size_t AppendVmmPolicies(const std::vector<MappingPolicy>& ranges, size_t* budget,
                         v1::GmemInfo* info);

}  // namespace khod

#endif  // KHOD_DAEMON_STATUS_VMM_POLICIES_H_
