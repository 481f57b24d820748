/* The record the BPF program kernel/bpf/vma_policy.bpf.c writes, one per VMA
 * plus one for the task, and kernel/vma_policy.cc decodes: the one layout both
 * sides compile. Fixed-width fields in natural alignment, no padding, host
 * byte order.
 *
 * Any change to this layout, to a field's meaning or to a flag requires
 * changing KHOD_VMA_POLICY_VERSION: the reader refuses every record whose
 * magic, version or size is not its own, so a program built from another
 * layout is detected instead of misread. */
#ifndef KHOD_KERNEL_BPF_VMA_POLICY_RECORD_H_
#define KHOD_KERNEL_BPF_VMA_POLICY_RECORD_H_

#ifndef __bpf__
#include <linux/types.h>
#endif

#define KHOD_VMA_POLICY_MAGIC 0x5250564bu /* "KVPR" in a little-endian dump */
#define KHOD_VMA_POLICY_VERSION 5

/* Words of nodemask a record carries: MAX_NUMNODES on x86_64 is at most 1024. */
#define KHOD_VMA_POLICY_NODE_WORDS 16

/* kind */
#define KHOD_VMA_POLICY_KIND_TASK 1 /* first record of a read: the group leader's policy */
#define KHOD_VMA_POLICY_KIND_VMA 2  /* one per VMA, in address order */

/* flags */
#define KHOD_VMA_POLICY_F_FILE (1u << 0)       /* vm_file is set: dev and ino are its inode's */
#define KHOD_VMA_POLICY_F_GET_POLICY (1u << 1) /* vm_ops->get_policy is set: it decides */
#define KHOD_VMA_POLICY_F_HAS_POLICY (1u << 2) /* vm_policy (task: task->mempolicy) is set */
#define KHOD_VMA_POLICY_F_NO_NUMA (1u << 3)    /* the kernel has no mempolicy (!CONFIG_NUMA) */
#define KHOD_VMA_POLICY_F_NODES_CUT (1u << 4)  /* the kernel's nodemask is wider than nodes[] */
#define KHOD_VMA_POLICY_F_LOCK_SEQ (1u << 5)   /* mm_seq is mm->mm_lock_seq */
#define KHOD_VMA_POLICY_F_SEQCOUNT (1u << 6)   /* ... a seqcount: odd while a writer holds it */
/* task record: task->mempolicy was swapped (or its mode or flags changed) while it was copied */
#define KHOD_VMA_POLICY_F_TASK_POLICY_CHANGED (1u << 7)
/* VMA record: VM_MAYSHARE is set (a MAP_SHARED mapping: /proc/PID/maps' 's') */
#define KHOD_VMA_POLICY_F_MAY_SHARE (1u << 8)
/* home_node holds the policy's home node (the kernel's struct mempolicy has one) */
#define KHOD_VMA_POLICY_F_HOME_NODE (1u << 9)

struct khod_vma_policy_record {
  __u32 magic;   /* KHOD_VMA_POLICY_MAGIC */
  __u16 version; /* KHOD_VMA_POLICY_VERSION */
  __u16 size;    /* sizeof(struct khod_vma_policy_record) */
  __u32 kind;    /* KHOD_VMA_POLICY_KIND_* */
  __u32 flags;   /* KHOD_VMA_POLICY_F_* */
  __u32 tgid;    /* the process, as the kernel's init pid namespace numbers it */
  __u32 dev;     /* the file's superblock s_dev, the kernel's encoding (major << 20 | minor) */
  __u64 start;   /* vm_start */
  __u64 end;     /* vm_end */
  __u64 pgoff;   /* vm_pgoff */
  __u64 ino;     /* the file's i_ino */
  /* mm->mm_lock_seq while the record was written (under mmap_read_lock):
   * one read is consistent only when every record carries the same value. */
  __u64 mm_seq;
  __u16 mode;       /* the policy's mode (MPOL_*) when F_HAS_POLICY */
  __u16 mode_flags; /* its flags, internal ones included */
  __u32 node_bytes; /* bytes of nodes[] the kernel's nodemask filled */
  /* The policy's home node (set_mempolicy_home_node) when F_HOME_NODE, -1
   * (NUMA_NO_NODE: none) where it has none; -1 without F_HOME_NODE. */
  __s32 home_node;
  __u32 reserved; /* 0 */
  __u64 nodes[KHOD_VMA_POLICY_NODE_WORDS];
  /* The task's record: mm->map_count, the VMA records that follow it in a
   * read whose records all carry one mm_seq (0 in a VMA's record). The reader
   * stops there: after the leader's walk the iterator walks the mm again for
   * every thread with its own file table, writing nothing, and a read() that
   * walks a million VMAs without writing fails with EAGAIN. */
  __u64 vmas;
};

#endif /* KHOD_KERNEL_BPF_VMA_POLICY_RECORD_H_ */
