// SPDX-License-Identifier: GPL-2.0
/* A task_file iterator: for each shmem file one process holds open, the nodes
 * of the inode's shared NUMA policy (shmem_inode_info.policy, an rb-tree of
 * struct sp_node keyed by page range: mm/mempolicy.c), in the layout of
 * shared_policy_record.h. It is what shmem_get_policy() answers for each page
 * (mpol_shared_policy_lookup), whole: get_mempolicy(MPOL_F_ADDR) answers for
 * one page, and numa_maps for the first page of each mapping.
 *
 * The tree is read without sp->lock, which a BPF program cannot take: every
 * read goes through bpf_probe_read_kernel (a node freed meanwhile reads as
 * garbage, never a fault), the walk is bounded, and kernel/shared_policy_iter.h
 * takes a read only when the one after it gives the same records. */
/* First: libbpf's headers use its types. (clang-format would sort it after them.) */
#include "kernel/bpf/kernel_types.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "kernel/bpf/shared_policy_record.h"

/* bpf_seq_write and bpf_probe_read_kernel are GPL-only helpers. */
char LICENSE[] SEC("license") = "GPL";

#define TMPFS_MAGIC 0x01021994 /* include/uapi/linux/magic.h */
#define S_IFMT 00170000
#define S_IFREG 0100000

/* Pointer moves the walk may make: an in-order walk of n nodes makes under
 * 3n, plus the descent to the first (at most twice the tree's height). */
#define WALK_STEPS 1024

enum walk_state { DESCEND, AFTER_VISIT, CLIMB, DONE };

struct walk {
  __u64 node;                                  /* the rb_node the walk is at */
  __u64 found[KHOD_SHARED_POLICY_MAX_RANGES];  /* the sp_nodes visited, in order */
  __u32 count;                                 /* nodes visited */
  __u32 state;                                 /* enum walk_state */
};

static __always_inline void visit(struct walk *w) {
  if (w->count < KHOD_SHARED_POLICY_MAX_RANGES)
    w->found[w->count & (KHOD_SHARED_POLICY_MAX_RANGES - 1)] =
        w->node - bpf_core_field_offset(struct sp_node, nd);
  w->count++;
}

/* One pointer move of an in-order walk that keeps no stack: down the left
 * spine, visit, into the right subtree, else up until arriving from a left
 * child (include/linux/rbtree.h's rb_next). Stops once a node more than the
 * records hold is visited: the file is then flagged cut. */
static long step(__u64 index, struct walk *w) {
  struct rb_node *n = (struct rb_node *)w->node;

  switch (w->state) {
    case DESCEND: {
      struct rb_node *left = BPF_CORE_READ(n, rb_left);

      if (left) {
        w->node = (__u64)left;
        return 0;
      }
      visit(w);
      w->state = AFTER_VISIT;
      break;
    }
    case AFTER_VISIT: {
      struct rb_node *right = BPF_CORE_READ(n, rb_right);

      if (right) {
        w->node = (__u64)right;
        w->state = DESCEND;
      } else {
        w->state = CLIMB;
      }
      break;
    }
    case CLIMB: {
      struct rb_node *parent = (struct rb_node *)(BPF_CORE_READ(n, __rb_parent_color) & ~3ul);

      if (!parent) {
        w->state = DONE;
        return 1;
      }
      w->node = (__u64)parent;
      if ((__u64)BPF_CORE_READ(parent, rb_left) == (__u64)n) {
        visit(w);
        w->state = AFTER_VISIT;
      }
      break;
    }
    default:
      return 1;
  }
  return w->count > KHOD_SHARED_POLICY_MAX_RANGES ? 1 : 0;
}

static __always_inline void start_record(struct khod_shared_policy_record *r, __u32 kind,
                                         struct task_struct *task, __u32 fd, struct inode *inode) {
  __builtin_memset(r, 0, sizeof(*r));
  r->magic = KHOD_SHARED_POLICY_MAGIC;
  r->version = KHOD_SHARED_POLICY_VERSION;
  r->size = sizeof(*r);
  r->kind = kind;
  r->tgid = task->tgid;
  r->fd = fd;
  r->home_node = -1; /* NUMA_NO_NODE: none, or none read */
  r->ino = BPF_CORE_READ(inode, i_ino);
  r->dev = BPF_CORE_READ(inode, i_sb, s_dev);
}

static __always_inline void copy_range(struct khod_shared_policy_record *r, __u64 sp_node) {
  struct sp_node *sn = (struct sp_node *)sp_node;
  struct mempolicy *p = BPF_CORE_READ(sn, policy);
  __u32 size;

  r->start = BPF_CORE_READ(sn, start);
  r->end = BPF_CORE_READ(sn, end);
  if (!p) {
    r->flags |= KHOD_SHARED_POLICY_F_NO_POLICY;
    return;
  }
  size = bpf_core_field_size(p->nodes);
  if (size > sizeof(r->nodes)) {
    size = sizeof(r->nodes);
    r->flags |= KHOD_SHARED_POLICY_F_NODES_CUT;
  }
  r->mode = BPF_CORE_READ(p, mode);
  r->mode_flags = BPF_CORE_READ(p, flags);
  r->node_bytes = size;
  bpf_core_read(r->nodes, size, &p->nodes);
  if (bpf_core_field_exists(p->home_node)) {
    r->home_node = BPF_CORE_READ(p, home_node);
    r->flags |= KHOD_SHARED_POLICY_F_HOME_NODE;
  }
}

SEC("iter/task_file")
int khod_shared_policy(struct bpf_iter__task_file *ctx) {
  struct seq_file *seq = ctx->meta->seq;
  struct task_struct *task = ctx->task;
  struct file *file = ctx->file;
  struct khod_shared_policy_record r;
  struct walk w = {};
  struct inode *inode;
  __u32 fd = ctx->fd;

  if (!task || !file) return 0;
  /* A pidfd (TGID) iterator visits the group leader, then every other thread
   * of the group whose file table is not the leader's: only the leader's
   * files are reported, as the VMA program reports only its mm. */
  {
    struct task_struct___ids *ids = (void *)task;

    if (BPF_CORE_READ(ids, pid) != BPF_CORE_READ(ids, tgid)) return 0;
  }
  inode = BPF_CORE_READ(file, f_inode);
  if (!inode || BPF_CORE_READ(inode, i_sb, s_magic) != TMPFS_MAGIC) return 0;
  if ((BPF_CORE_READ(inode, i_mode) & S_IFMT) != S_IFREG) return 0;

  start_record(&r, KHOD_SHARED_POLICY_KIND_FILE, task, fd, inode);
  if (!bpf_core_field_exists(struct shmem_inode_info, policy)) {
    r.flags |= KHOD_SHARED_POLICY_F_NO_NUMA;
    bpf_seq_write(seq, &r, sizeof(r));
    return 0;
  }
  {
    struct shmem_inode_info *info =
        (void *)((__u64)inode - bpf_core_field_offset(struct shmem_inode_info, vfs_inode));

    w.node = (__u64)BPF_CORE_READ(info, policy.root.rb_node);
  }
  if (w.node) {
    w.state = DESCEND;
    bpf_loop(WALK_STEPS, step, &w, 0);
    if (w.state != DONE || w.count > KHOD_SHARED_POLICY_MAX_RANGES) {
      r.flags |= KHOD_SHARED_POLICY_F_CUT;
      w.count = 0;
    }
  }
  r.ranges = w.count;
  bpf_seq_write(seq, &r, sizeof(r));
  for (__u32 i = 0; i < KHOD_SHARED_POLICY_MAX_RANGES; i++) {
    if (i >= w.count) break;
    start_record(&r, KHOD_SHARED_POLICY_KIND_RANGE, task, fd, inode);
    copy_range(&r, w.found[i]);
    bpf_seq_write(seq, &r, sizeof(r));
  }
  return 0;
}
