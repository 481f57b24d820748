// SPDX-License-Identifier: GPL-2.0
/* A task_vma iterator: for one process, one record per VMA with what
 * show_numa_map() (fs/proc/task_mmu.c) decides its policy from, plus one record
 * with the group leader's own policy, in the layout of vma_policy_record.h.
 * It reads no page: its cost grows with the VMAs, not with the memory mapped.
 *
 * The program only copies what the kernel holds; kernel/vma_policy.cc turns
 * it into what numa_maps prints. A VMA whose vm_ops->get_policy is set (shmem;
 * guest_memfd where a kernel gives it a shared policy) is flagged and not
 * interpreted: that op decides its policy. */
/* First: libbpf's headers use its types. (clang-format would sort it after them.) */
#include "kernel/bpf/kernel_types.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "kernel/bpf/vma_policy_record.h"

/* bpf_seq_write and bpf_probe_read_kernel are GPL-only helpers. */
char LICENSE[] SEC("license") = "GPL";

static __always_inline void copy_policy(struct khod_vma_policy_record *r, struct mempolicy *p) {
  __u32 size = bpf_core_field_size(p->nodes);

  if (size > sizeof(r->nodes)) {
    size = sizeof(r->nodes);
    r->flags |= KHOD_VMA_POLICY_F_NODES_CUT;
  }
  r->flags |= KHOD_VMA_POLICY_F_HAS_POLICY;
  r->mode = BPF_CORE_READ(p, mode);
  r->mode_flags = BPF_CORE_READ(p, flags);
  r->node_bytes = size;
  bpf_core_read(r->nodes, size, &p->nodes);
  /* set_mempolicy_home_node(): a kernel without the field has no home nodes. */
  if (bpf_core_field_exists(p->home_node)) {
    r->home_node = BPF_CORE_READ(p, home_node);
    r->flags |= KHOD_VMA_POLICY_F_HOME_NODE;
  }
}

/* The same value for every record of a read in which no writer took the
 * mmap_lock: the iterator holds mmap_read_lock while it writes a record but
 * may drop it between records. */
static __always_inline void copy_lock_seq(struct khod_vma_policy_record *r, struct mm_struct *mm) {
  if (bpf_core_field_exists(struct mm_struct___seqcount, mm_lock_seq)) {
    struct mm_struct___seqcount *m = (void *)mm;

    r->mm_seq = BPF_CORE_READ(m, mm_lock_seq.sequence);
    r->flags |= KHOD_VMA_POLICY_F_LOCK_SEQ | KHOD_VMA_POLICY_F_SEQCOUNT;
  } else if (bpf_core_field_exists(struct mm_struct___int, mm_lock_seq)) {
    struct mm_struct___int *m = (void *)mm;

    r->mm_seq = (__u32)BPF_CORE_READ(m, mm_lock_seq);
    r->flags |= KHOD_VMA_POLICY_F_LOCK_SEQ;
  }
}

/* task->mempolicy, read without task_lock (a BPF program cannot take it):
 * set_mempolicy() in the task may swap it and free the old one while it is
 * copied. Read again after the copy: a pointer, mode or flags that changed
 * flags the record, and the reader reads again. What this cannot see is in
 * kernel/vma_policy.h. */
static __always_inline void copy_task_policy(struct khod_vma_policy_record *r,
                                             struct task_struct *task) {
  struct mempolicy *p = BPF_CORE_READ(task, mempolicy);

  if (p) {
    copy_policy(r, p);
    if (BPF_CORE_READ(p, mode) != r->mode || BPF_CORE_READ(p, flags) != r->mode_flags)
      r->flags |= KHOD_VMA_POLICY_F_TASK_POLICY_CHANGED;
  }
  if (BPF_CORE_READ(task, mempolicy) != p) r->flags |= KHOD_VMA_POLICY_F_TASK_POLICY_CHANGED;
}

static __always_inline void start_record(struct khod_vma_policy_record *r, __u32 kind,
                                         struct task_struct *task, struct mm_struct *mm) {
  __builtin_memset(r, 0, sizeof(*r));
  r->magic = KHOD_VMA_POLICY_MAGIC;
  r->version = KHOD_VMA_POLICY_VERSION;
  r->size = sizeof(*r);
  r->kind = kind;
  r->home_node = -1; /* NUMA_NO_NODE: no policy, or none read */
  r->tgid = task->tgid;
  copy_lock_seq(r, mm);
}

SEC("iter/task_vma")
int khod_vma_policy(struct bpf_iter__task_vma *ctx) {
  struct seq_file *seq = ctx->meta->seq;
  struct vm_area_struct *vma = ctx->vma;
  struct task_struct *task = ctx->task;
  struct khod_vma_policy_record r;
  struct mm_struct *mm;
  struct file *file;

  /* The iterator's last call, from its stop, has no VMA. */
  if (!task || !vma) return 0;
  /* A pidfd (TGID) iterator visits the group leader, then again every other
   * thread of the group whose file table is not the leader's (a clone without
   * CLONE_FILES, an unshare(CLONE_FILES): task_group_seq_get_next()'s
   * skip_if_dup_files), walking the same mm once more. Only the leader's walk
   * is reported. */
  {
    struct task_struct___ids *ids = (void *)task;

    if (BPF_CORE_READ(ids, pid) != BPF_CORE_READ(ids, tgid)) return 0;
  }
  mm = BPF_CORE_READ(vma, vm_mm);

  /* The leader's first VMA. seq_num counts every VMA shown, those of the
   * threads skipped above included (bpf_seq_read() takes one back only when
   * show returns > 0, which a program's call never does), but the leader is
   * the first task visited (get_pid_task(PIDTYPE_TGID)), so no skipped call
   * comes before its first VMA. A leader without an mm (exited, its threads
   * alive) is not visited: then nothing is written, as numa_maps shows nothing
   * for it. A record cut by a full buffer is shown again with its seq_num. */
  if (ctx->meta->seq_num == 0) {
    struct mm_struct___count *counted = (void *)mm;

    start_record(&r, KHOD_VMA_POLICY_KIND_TASK, task, mm);
    /* Under the mmap_read_lock the iterator holds for this VMA: the count
     * of the walk, where every record shows the same mm_lock_seq. */
    r.vmas = (__u32)BPF_CORE_READ(counted, map_count);
    if (bpf_core_field_exists(task->mempolicy)) {
      copy_task_policy(&r, task);
    } else {
      r.flags |= KHOD_VMA_POLICY_F_NO_NUMA;
    }
    bpf_seq_write(seq, &r, sizeof(r));
  }

  start_record(&r, KHOD_VMA_POLICY_KIND_VMA, task, mm);
  r.start = BPF_CORE_READ(vma, vm_start);
  r.end = BPF_CORE_READ(vma, vm_end);
  r.pgoff = BPF_CORE_READ(vma, vm_pgoff);
  /* VM_MAYSHARE (include/linux/mm.h, 0x80 since Linux 2.4): what maps shows as 's'. */
  if (BPF_CORE_READ(vma, vm_flags) & 0x80) r.flags |= KHOD_VMA_POLICY_F_MAY_SHARE;
  file = BPF_CORE_READ(vma, vm_file);
  if (file) {
    r.flags |= KHOD_VMA_POLICY_F_FILE;
    r.ino = BPF_CORE_READ(file, f_inode, i_ino);
    r.dev = BPF_CORE_READ(file, f_inode, i_sb, s_dev);
  }
  /* __get_vma_policy(): vm_ops->get_policy, when set, wins over vm_policy. */
  if (BPF_CORE_READ(vma, vm_ops, get_policy)) r.flags |= KHOD_VMA_POLICY_F_GET_POLICY;
  if (bpf_core_field_exists(vma->vm_policy)) {
    struct mempolicy *p = BPF_CORE_READ(vma, vm_policy);

    if (p) copy_policy(&r, p);
  } else {
    r.flags |= KHOD_VMA_POLICY_F_NO_NUMA;
  }
  bpf_seq_write(seq, &r, sizeof(r));
  return 0;
}
