// A NUMA policy as the kernel's struct mempolicy holds it (mode, flags, nodes, home node), as
// the BPF programs of kernel/bpf/ copy it, turned into the Mempolicy that
// /proc/PID/numa_maps prints of it (mpol_to_str(), mm/mempolicy.c, Linux 6.18), plus the home
// node, which numa_maps does not print. One home for both programs' decoders.
#ifndef KHOD_KERNEL_MEMPOLICY_FIELDS_H_
#define KHOD_KERNEL_MEMPOLICY_FIELDS_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "kernel/memory_facts.h"

namespace khod {

struct MempolicyFields {
  int mode = 0;                 // pol->mode (MPOL_*)
  uint32_t mode_flags = 0;      // pol->flags, internal ones included
  std::vector<uint64_t> nodes;  // the words of pol->nodes copied
  bool nodes_cut = false;       // the kernel's nodemask was wider than the copy
  bool has_home_node = false;   // the kernel's struct mempolicy has the field (Linux 5.17)
  int32_t home_node = -1;
};

// The mode flags numa_maps prints ("=static" or else "=relative", then "balancing"), the nodes
// for the modes that print them (none for default and local), the home node seen (-1 where
// the policy has none, or the kernel no such field). nullopt where numa_maps would print no
// policy of ours (a mode it calls "unknown") or the copy cut the nodemask.
std::optional<Mempolicy> MempolicyFromFields(const MempolicyFields& f);

// The highest node number a home node may be, plus one: MAX_NUMNODES on x86_64 is at most 1024.
constexpr int32_t kMaxNumaNodes = 1024;

}  // namespace khod

#endif  // KHOD_KERNEL_MEMPOLICY_FIELDS_H_
