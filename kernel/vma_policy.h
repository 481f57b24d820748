// One process's VMAs with the NUMA policy /proc/PID/numa_maps shows for each, as the BPF
// program kernel/bpf/vma_policy.bpf.c reports them (kernel/vma_policy_iter.h runs it), and
// the decoding of its records: the rules of Linux 6.18's show_numa_map() (fs/proc/task_mmu.c),
// __get_vma_policy() and mpol_to_str() (mm/mempolicy.c).
//
// A VMA's policy is its vm_policy when set, else its task's (the thread-group leader's
// task->mempolicy, "default" when it has none), unless vm_ops->get_policy is set (shmem;
// guest_memfd where a kernel gives it a shared policy): that op decides, and the VMA is
// reported as not answered. The mode flags are
// those numa_maps prints (static or relative, and balancing); the nodes are pol->nodes for
// the modes that print them, none for default and local. The home node, which numa_maps does
// not print (set_mempolicy_home_node(2)), is pol->home_node, seen in every answer: -1 where the
// policy has none, or the kernel's struct mempolicy no such field (before Linux 5.17).
#ifndef KHOD_KERNEL_VMA_POLICY_H_
#define KHOD_KERNEL_VMA_POLICY_H_

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "kernel/memory_facts.h"

namespace khod {

struct VmaPolicy {
  uint64_t start = 0, end = 0;  // [start, end) in the process
  uint64_t pgoff = 0;           // vm_pgoff, in pages
  // The file's superblock device as userspace's makedev(major, minor), as /proc/PID/maps
  // shows it (fstat's st_dev where the filesystem does not report another); 0: anonymous.
  uint64_t dev = 0;
  uint64_t inode = 0;     // 0: anonymous
  bool shared = false;    // VM_MAYSHARE: a MAP_SHARED mapping, 's' in /proc/PID/maps
  bool answered = false;  // false: vm_ops->get_policy decides its policy (shmem...): ask numa_maps
  // What /proc/PID/numa_maps shows for it, parsed as kernel/numa_maps.h parses it (when
  // answered), and its home node, which numa_maps does not show (home_node_seen). Where
  // numa_maps' text would pass its 64-byte buffer, numa_maps cuts the node list and this
  // keeps it whole.
  Mempolicy policy;
};

// The VMAs that one read of the program's output (`bytes`, kernel/bpf/vma_policy_record.h)
// holds for process `pid`, in address order.
// Corruption naming the record when one is short, not of this layout's magic, version or
// size, of another process than the records before it, out of address order, or with a home
// node out of a node's range; Busy when the
// records disagree on mm_lock_seq (a writer changed the mappings during the read: read again),
// or hold it odd where it is a seqcount (Linux 6.13 and later: a writer held the mmap_lock; on
// 6.4 to 6.12, an int, only equality is checked), or the task record says the task policy changed
// while the program copied it (read again); Unsupported when the kernel has no mempolicy or no
// mm_lock_seq to prove a read consistent; NotFound when there is no record (the process has no
// address space: it exited, or is a kernel thread). Corruption too when a consistent read holds
// another number of VMA records than the task's record counts (its mm's map_count).
//
// The task policy is read without task_lock, which a BPF program cannot take: a
// set_mempolicy() in the leader may replace task->mempolicy and free the old one while the
// program copies it. The program reads the pointer, and the policy's mode and flags, again
// after the copy and flags the record when they changed (Busy here). What it cannot see: the
// old policy freed and its memory reused by a new one at the same address between its two
// reads of the pointer (two set_mempolicy() calls inside that window, the second's policy
// allocated where the first's was), and the nodes alone rewritten in place (a cpuset change
// rebinding the task's policy, mpol_rebind_task(), under task_lock): then the copy may mix
// two policies' fields, or hold a nodemask between the old and the new.
Result<std::vector<VmaPolicy>> DecodeVmaPolicyRecords(std::string_view bytes, pid_t pid);

// The bytes a whole read holds (the task's record and every VMA record it counts), once
// `bytes`, what a read has given so far, begins with a whole task's record of this layout:
// the reader asks the iterator for no more, so the kernel stops at the end of the leader's
// walk, before walking the same mm again for the process's other threads (records of
// nothing). nullopt before that record is whole, when the first record is not a task's of
// this layout (the reader reads to the end; the decode says what is wrong), or when its count
// is past any buffer.
std::optional<size_t> VmaPolicyReadBytes(std::string_view bytes);

}  // namespace khod

#endif  // KHOD_KERNEL_VMA_POLICY_H_
