// Whether guest_memfd has a shared (inode) NUMA policy on this kernel,
// decided by a probe, never by a version string: one mapping of a scratch
// guest_memfd is mbound MPOL_PREFERRED, and a second mapping of the same file
// reads its policy back (get_mempolicy MPOL_F_ADDR). With a shared policy
// (Linux 6.19+: guest_memfd's set_policy/get_policy) the second mapping reads
// the first one's; without (6.18) it reads default, and a guest's policy
// lives in each VMM mapping (kernel/file_mappings.h).
// Shmem and HugeTLB memfds always have a shared policy.
#ifndef KHOD_KERNEL_SHARED_POLICY_PROBE_H_
#define KHOD_KERNEL_SHARED_POLICY_PROBE_H_

#include <string>

#include "kernel/memory_facts.h"

namespace khod {

enum class SharedPolicyAnswer {
  kYes,      // the second mapping read the first one's policy
  kNo,       // it read default: each mapping has its own
  kUnknown,  // the probe could not run (no /dev/kvm, no MMAP flag, ...): evidence says why
};

struct SharedPolicyProbe {
  SharedPolicyAnswer answer = SharedPolicyAnswer::kUnknown;
  std::string evidence;  // what was done and read, or why nothing could be
};

// Runs the probe (a VM, a 2-page guest_memfd, two mappings; about a millisecond).
SharedPolicyProbe ProbeGuestMemfdSharedPolicy();

// The probe's answer, run once per process on first use (the kernel does not
// change under a running khod).
const SharedPolicyProbe& GuestMemfdSharedPolicy();

const char* SharedPolicyAnswerName(SharedPolicyAnswer a);  // "yes", "no", "unknown"

}  // namespace khod

#endif  // KHOD_KERNEL_SHARED_POLICY_PROBE_H_
