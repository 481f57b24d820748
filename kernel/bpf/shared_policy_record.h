/* The records the BPF program kernel/bpf/shared_policy.bpf.c writes and
 * kernel/shared_policy.cc decodes: for each shmem file a process holds open,
 * one file record, then one range record per node of the inode's shared NUMA
 * policy (struct shared_policy, an rb-tree of struct sp_node) in index order.
 * The one layout both sides compile: fixed-width fields in natural alignment,
 * no padding, host byte order.
 *
 * Any change to this layout, to a field's meaning or to a flag requires
 * changing KHOD_SHARED_POLICY_VERSION: the reader refuses every record whose
 * magic, version or size is not its own. */
#ifndef KHOD_KERNEL_BPF_SHARED_POLICY_RECORD_H_
#define KHOD_KERNEL_BPF_SHARED_POLICY_RECORD_H_

#ifndef __bpf__
#include <linux/types.h>
#endif

#define KHOD_SHARED_POLICY_MAGIC 0x5053484bu /* "KHSP" in a little-endian dump */
#define KHOD_SHARED_POLICY_VERSION 1

/* Words of nodemask a record carries: MAX_NUMNODES on x86_64 is at most 1024. */
#define KHOD_SHARED_POLICY_NODE_WORDS 16

/* The most range records one file gets: a file whose tree holds more is
 * flagged F_CUT and its ranges are not written. A power of two (the program
 * masks its index with it). */
#define KHOD_SHARED_POLICY_MAX_RANGES 8

/* kind */
#define KHOD_SHARED_POLICY_KIND_FILE 1  /* a shmem file, then its `ranges` range records */
#define KHOD_SHARED_POLICY_KIND_RANGE 2 /* one node of the tree: [start, end) in pages */

/* flags */
/* file: the tree holds more than KHOD_SHARED_POLICY_MAX_RANGES nodes, or its
 * walk did not end within the program's steps (no range record follows) */
#define KHOD_SHARED_POLICY_F_CUT (1u << 0)
/* file: the kernel has no shared policy in shmem's inode (!CONFIG_NUMA) */
#define KHOD_SHARED_POLICY_F_NO_NUMA (1u << 1)
/* range: the node has no policy (never set by the kernel: a reader's error) */
#define KHOD_SHARED_POLICY_F_NO_POLICY (1u << 2)
/* range: the kernel's nodemask is wider than nodes[] */
#define KHOD_SHARED_POLICY_F_NODES_CUT (1u << 3)
/* range: home_node holds the policy's home node (the kernel's struct mempolicy has one) */
#define KHOD_SHARED_POLICY_F_HOME_NODE (1u << 4)

struct khod_shared_policy_record {
  __u32 magic;      /* KHOD_SHARED_POLICY_MAGIC */
  __u16 version;    /* KHOD_SHARED_POLICY_VERSION */
  __u16 size;       /* sizeof(struct khod_shared_policy_record) */
  __u32 kind;       /* KHOD_SHARED_POLICY_KIND_* */
  __u32 flags;      /* KHOD_SHARED_POLICY_F_* */
  __u32 tgid;       /* the process, as the kernel's init pid namespace numbers it */
  __u32 fd;         /* the fd the file was found at (file and range records) */
  __u32 dev;        /* the file's superblock s_dev, the kernel's encoding (major << 20 | minor) */
  __u32 ranges;     /* file record: range records that follow it; 0 in a range record */
  __u64 ino;        /* the file's i_ino */
  __u64 start;      /* range: the first page index the node covers */
  __u64 end;        /* range: one past its last */
  __u16 mode;       /* range: the policy's mode (MPOL_*) */
  __u16 mode_flags; /* its flags, internal ones included */
  __u32 node_bytes; /* bytes of nodes[] the kernel's nodemask filled */
  /* The policy's home node (set_mempolicy_home_node) when F_HOME_NODE, -1
   * (NUMA_NO_NODE) where it has none; -1 without F_HOME_NODE. */
  __s32 home_node;
  __u32 reserved; /* 0 */
  __u64 nodes[KHOD_SHARED_POLICY_NODE_WORDS];
};

#endif /* KHOD_KERNEL_BPF_SHARED_POLICY_RECORD_H_ */
