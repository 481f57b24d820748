// The shared (inode) NUMA policy of the shmem files one process holds open, as the BPF program
// kernel/bpf/shared_policy.bpf.c reports it (kernel/shared_policy_iter.h runs it): each file's
// tree of page ranges (struct shared_policy: mbind through any mapping of the file sets the
// policy of the pages it covers, and a page no range covers has none: default). That is what
// get_mempolicy(MPOL_F_ADDR) answers for each page of any mapping of the file, whole, where
// get_mempolicy answers for one page at a time.
#ifndef KHOD_KERNEL_SHARED_POLICY_H_
#define KHOD_KERNEL_SHARED_POLICY_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "kernel/memory_facts.h"

namespace khod {

struct SharedPolicyRange {
  uint64_t start = 0, end = 0;  // [start, end), page indexes of the file
  Mempolicy policy;             // as numa_maps prints it, with its home node seen
};

struct SharedPolicyTree {
  // The file's superblock device as userspace's makedev(major, minor) (fstat's st_dev), and
  // its inode number.
  uint64_t dev = 0;
  uint64_t inode = 0;
  // The tree held more ranges than the program writes (its ranges are then not known).
  bool cut = false;
  std::vector<SharedPolicyRange> ranges;  // ordered, disjoint, non-empty
};

// The files one read of the program's output (`bytes`, kernel/bpf/shared_policy_record.h)
// holds for process `pid`, one per inode (a file open at several fds once). Corruption naming
// the record when one is short, not of this layout's magic, version or size, of another
// process than the records before it, not where its file's record says, or a range that is
// empty, out of order or overlapping the one before, with a policy numa_maps would not print,
// or with a home node out of a node's range; Busy when the same inode reads differently at
// two fds (its tree changed during the read: read again); Unsupported when the kernel has no
// NUMA mempolicy. An empty read is no shmem file.
Result<std::vector<SharedPolicyTree>> DecodeSharedPolicyRecords(std::string_view bytes, pid_t pid);

// The one policy of every page of a file of `pages` pages, from its tree: default where no
// range covers any of them, a range's policy where ranges with that same policy cover them all.
// FailedPrecondition naming the ranges where the pages do not all have one policy (a blob
// keeps one policy per file), or the tree was cut. Ranges past the file's end are not the
// policy of any page it has.
Result<Mempolicy> WholeFilePolicy(const SharedPolicyTree& tree, uint64_t pages);

}  // namespace khod

#endif  // KHOD_KERNEL_SHARED_POLICY_H_
