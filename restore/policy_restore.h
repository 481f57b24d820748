// How a restored file's NUMA policy comes back, said as it is.
//
// A policy sticks to a file only where the kernel keeps a shared (inode)
// policy for it: shmem memfds, guest_memfd where the probe says so
// (kernel/shared_policy_probe.h; Linux 6.19+), never HugeTLB. There khod
// re-applies it with mbind on a mapping of its own (and its home node with
// set_mempolicy_home_node) and reads it back before it says "re-applied": a
// shmem file's whole shared policy, home node included, where khod's BPF
// reader loads (kernel/shared_policy_iter.h), else through a second mapping,
// which shows the mode and nodes of one page. Where the policy lived in the VMM's mappings
// (PolicySource::kVmmMappings: guest_memfd on 6.18, HugeTLB), or where it does not
// stick, it dies with any mapping khod could make: the recorded ranges are
// handed to the VMM, which mbinds its own mappings (GmemInfo.vmm_policies).
#ifndef KHOD_RESTORE_POLICY_RESTORE_H_
#define KHOD_RESTORE_POLICY_RESTORE_H_

#include <string>
#include <vector>

#include "kernel/shared_policy_cache.h"
#include "state/snapshot.h"

namespace khod {

struct PolicyRestore {
  enum class Outcome {
    kNothing,      // default policy (or none recorded): nothing to bring back
    kKept,         // adopted file whose inode policy reads back as it was frozen
    kReapplied,    // mbind'ed and read back through another mapping: it sticks
    kHandedToVmm,  // for the VMM to mbind on its mappings: `for_vmm`
    kNotRestored,  // neither: `note` says why (verify shows what differs)
  };
  Outcome outcome = Outcome::kNothing;
  std::vector<MappingPolicy> for_vmm;  // page ranges and policies the VMM applies
  std::string note;                    // "re-applied to the file (read back): bind nodes=0", ...
};

const char* PolicyOutcomeName(PolicyRestore::Outcome o);

// A file that khod rebuilt, or whose transport reset its policy (memfd LUO):
// re-applies an inode policy where it sticks, else hands it to the VMM.
PolicyRestore RestorePolicy(int fd, const GuestMemfd& frozen, uint32_t page_size);

// A file whose fd crossed the handover with its inode intact (`fd`, held by
// this process): khod re-applies nothing to it. An inode policy is "kept" only
// where it reads back whole as frozen (a shmem file's, with the BPF reader);
// one that reads otherwise is named with what it reads, and one that cannot be
// read is named not re-applied, no policy said (Verify compares it). The VMM's
// mapping policies are the VMM's to apply again. `round`: one read of every
// shmem file's tree for a whole Restore (nullptr: a read of its own).
PolicyRestore PolicyOfAdopted(int fd, const GuestMemfd& frozen, uint32_t page_size,
                              SharedPolicyCache* round = nullptr);

// The policies of `frozen`'s VMM mappings as Restore hands them to the VMM:
// the non-default ones, in page order, ranges that follow each other with one
// policy merged, at most the first kMaxRangesForVmm (what a status carries);
// `*left_out`: the merged ranges past that, which are handed to no one.
constexpr size_t kMaxRangesForVmm = 4096;
std::vector<MappingPolicy> MappingPoliciesForVmm(const GuestMemfd& frozen, size_t* left_out);

}  // namespace khod

#endif  // KHOD_RESTORE_POLICY_RESTORE_H_
