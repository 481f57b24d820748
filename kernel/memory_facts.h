// Plain facts the kernel reports about a file that holds guest memory, with
// no dependency on khod's snapshot model: kernel/ returns these, and
// state/snapshot.h builds its domain types (GuestMemfd, Snapshot) on them.
#ifndef KHOD_KERNEL_MEMORY_FACTS_H_
#define KHOD_KERNEL_MEMORY_FACTS_H_

#include <cstdint>
#include <vector>

namespace khod {

// What kind of file holds the memory.
enum class FileKind : uint8_t {
  kGuestMemfd = 0,    // anon_inode:[kvm-gmem]
  kHugetlbMemfd = 1,  // memfd_create(MFD_HUGETLB): the real HugeTLB path here
  kShmemMemfd = 2,    // plain memfd (shmem)
};

// NUMA mempolicy: of the inode where the file has a shared policy (shmem
// memfds; guest_memfd from Linux 6.19), else of one VMM mapping (HugeTLB too).
struct Mempolicy {
  int32_t mode = 0;                // MPOL_DEFAULT=0, PREFERRED=1, BIND=2, INTERLEAVE=3, ...
  uint32_t mode_flags = 0;         // MPOL_F_STATIC_NODES, MPOL_F_RELATIVE_NODES, ...
  std::vector<uint64_t> nodemask;  // bit n of word n/64 = node n; trailing zero words trimmed
  int32_t home_node = -1;          // -1: none
  // Whether home_node was read. No syscall or /proc file shows a policy's home
  // node (get_mempolicy, numa_maps); only the BPF VMA reader sees it. A policy
  // read another way whose mode can hold one (ModeCanHaveHomeNode) has it not
  // seen, and home_node (-1) then says nothing.
  bool home_node_seen = true;
  bool operator==(const Mempolicy& o) const {
    return mode == o.mode && mode_flags == o.mode_flags && nodemask == o.nodemask &&
           home_node == o.home_node && home_node_seen == o.home_node_seen;
  }
};

// Whether a policy of `mode` can hold a home node: set_mempolicy_home_node(2)
// refuses (EOPNOTSUPP) a VMA whose policy is another mode, and mbind(2) and
// set_mempolicy(2) make every policy without one (NUMA_NO_NODE).
inline bool ModeCanHaveHomeNode(int32_t mode) {
  return mode == 2 /* MPOL_BIND */ || mode == 5 /* MPOL_PREFERRED_MANY */;
}

// Whether two nodemasks hold the same nodes: a mask's trailing zero words name
// none (a reader trims them; a blob need not).
inline bool SameNodes(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b) {
  const std::vector<uint64_t>& longer = a.size() >= b.size() ? a : b;
  const std::vector<uint64_t>& shorter = a.size() >= b.size() ? b : a;
  for (size_t i = 0; i < longer.size(); ++i)
    if (longer[i] != (i < shorter.size() ? shorter[i] : 0)) return false;
  return true;
}

// Whether `a` and `b` agree on everything but the home node.
inline bool SameModeAndNodes(const Mempolicy& a, const Mempolicy& b) {
  return a.mode == b.mode && a.mode_flags == b.mode_flags && SameNodes(a.nodemask, b.nodemask);
}

}  // namespace khod

#endif  // KHOD_KERNEL_MEMORY_FACTS_H_
