// NUMA mempolicy, read and set through a mapping. For shmem and HugeTLB
// memfds (and guest_memfd from Linux 6.19) the policy set with mbind() on a
// shared mapping is the inode's shared policy, so any process's mapping reads
// the same one; on 6.18 a guest_memfd mapping's policy is that mapping's only
// (kernel/shared_policy_probe.h decides which holds).
#ifndef KHOD_KERNEL_MEMPOLICY_H_
#define KHOD_KERNEL_MEMPOLICY_H_

#include <cstddef>

#include "common/status.h"
#include "kernel/memory_facts.h"

namespace khod {

// get_mempolicy(MPOL_F_ADDR) at `addr`. home_node is not reported by the
// kernel to userspace, so it is always -1 here.
Result<Mempolicy> GetMempolicyAt(const void* addr);

// mbind() of [addr, addr + length) to `policy` (mode | mode_flags, nodemask).
Status SetMempolicy(void* addr, size_t length, const Mempolicy& policy);

// The lowest node this process may allocate on (get_mempolicy MPOL_F_MEMS_ALLOWED).
Result<int> FirstAllowedNode();

// "interleave nodes=0-1", "default".
std::string MempolicyToString(const Mempolicy& p);

}  // namespace khod

#endif  // KHOD_KERNEL_MEMPOLICY_H_
