// NUMA mempolicy, read and set through a mapping. For shmem and HugeTLB
// memfds (and guest_memfd from Linux 6.19) the policy set with mbind() on a
// shared mapping is the inode's shared policy, so any process's mapping reads
// the same one; on 6.18 a guest_memfd mapping's policy is that mapping's only
// (kernel/shared_policy_probe.h decides which holds).
#ifndef KHOD_KERNEL_MEMPOLICY_H_
#define KHOD_KERNEL_MEMPOLICY_H_

#include <cstddef>
#include <cstdint>

#include "common/status.h"
#include "kernel/memory_facts.h"

namespace khod {

// get_mempolicy(MPOL_F_ADDR) at `addr`. get_mempolicy does not report the
// home node: home_node is -1, and not seen where the mode can hold one
// (ModeCanHaveHomeNode).
Result<Mempolicy> GetMempolicyAt(const void* addr);

// mbind() of [addr, addr + length) to `policy` (mode | mode_flags, nodemask),
// then, when policy.home_node >= 0, set_mempolicy_home_node(2) of the same
// range to it (mbind makes a policy without one). An error names the call
// that failed: for the home node, Unsupported where the kernel has no such
// call (before Linux 5.17) or the mode holds no home node (EOPNOTSUPP), the
// policy mbind set left in place.
Status SetMempolicy(void* addr, size_t length, const Mempolicy& policy);

// set_mempolicy_home_node(2) of [addr, addr + length) to `home_node` alone, on
// the policy an mbind() there made: Unsupported where the kernel has no such
// call or the policy's mode holds no home node, else the errno (EINVAL: an
// offline node).
Status SetMempolicyHomeNode(void* addr, size_t length, int32_t home_node);

// The lowest node this process may allocate on (get_mempolicy MPOL_F_MEMS_ALLOWED).
Result<int> FirstAllowedNode();

}  // namespace khod

#endif  // KHOD_KERNEL_MEMPOLICY_H_
