// Whether a kind of memory file has a shared (inode) NUMA policy on this
// kernel, decided by a probe, never by a version string: one mapping of a
// scratch file of that kind is mbound MPOL_PREFERRED, and a second mapping of
// the same file reads its policy back (get_mempolicy MPOL_F_ADDR). With a
// shared policy (vm_ops set_policy/get_policy: shmem; guest_memfd from Linux
// 6.19) the second mapping reads the first one's; without, it reads default,
// and the file's policy lives in each mapping of it (kernel/file_mappings.h):
// guest_memfd on 6.18, and HugeTLB, whose vm_ops keep no shared policy
// (../shared/notes: read on 6.18 through two mappings of a HugeTLB memfd).
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
// The same on a scratch memfd of the kind: a one-huge-page MFD_HUGETLB memfd
// mapped MAP_NORESERVE (no huge page is reserved or allocated), or a plain one.
SharedPolicyProbe ProbeMemfdSharedPolicy(FileKind kind);

// The probe's answer, run once per process on first use (the kernel does not
// change under a running khod).
const SharedPolicyProbe& GuestMemfdSharedPolicy();
// The answer for files of `kind`, each kind's probe run once per process.
const SharedPolicyProbe& SharedPolicyOf(FileKind kind);

const char* SharedPolicyAnswerName(SharedPolicyAnswer a);  // "yes", "no", "unknown"

}  // namespace khod

#endif  // KHOD_KERNEL_SHARED_POLICY_PROBE_H_
