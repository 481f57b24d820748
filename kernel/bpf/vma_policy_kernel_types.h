/* The kernel types kernel/bpf/vma_policy.bpf.c reads, declared by hand instead
 * of a generated vmlinux.h: only the fields it uses, each relocated by CO-RE
 * against the running kernel's BTF at load (preserve_access_index), so their
 * offsets here do not matter and a field a kernel lacks is tested with
 * bpf_core_field_exists() before it is read. */
#ifndef KHOD_KERNEL_BPF_VMA_POLICY_KERNEL_TYPES_H_
#define KHOD_KERNEL_BPF_VMA_POLICY_KERNEL_TYPES_H_

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef signed char __s8;
typedef short __s16;
typedef int __s32;
typedef long long __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;
typedef _Bool bool;

#define KHOD_CORE __attribute__((preserve_access_index))

/* include/linux/nodemask_types.h: the width is the kernel's MAX_NUMNODES. */
typedef struct {
  unsigned long bits[16];
} KHOD_CORE nodemask_t;

struct seqcount {
  unsigned int sequence;
} KHOD_CORE;
typedef struct seqcount seqcount_t;

struct mempolicy {
  unsigned short mode;
  unsigned short flags;
  nodemask_t nodes;
  int home_node; /* Linux 5.17 and later */
} KHOD_CORE;

struct super_block {
  unsigned int s_dev;
} KHOD_CORE;

struct inode {
  unsigned long i_ino;
  struct super_block *i_sb;
} KHOD_CORE;

struct file {
  struct inode *f_inode;
} KHOD_CORE;

struct vm_area_struct;
struct vm_operations_struct {
  struct mempolicy *(*get_policy)(struct vm_area_struct *, unsigned long, unsigned long *);
} KHOD_CORE;

struct mm_struct;
struct vm_area_struct {
  unsigned long vm_start;
  unsigned long vm_end;
  struct mm_struct *vm_mm;
  unsigned long vm_flags; /* in an anonymous union: CO-RE finds it there */
  unsigned long vm_pgoff;
  struct file *vm_file;
  const struct vm_operations_struct *vm_ops;
  struct mempolicy *vm_policy; /* CONFIG_NUMA */
} KHOD_CORE;

/* mm_lock_seq (CONFIG_PER_VMA_LOCK) has two shapes: a seqcount_t from Linux
 * 6.13, an int bumped at each mmap_write_unlock before. The ___suffix
 * flavors let CO-RE tell them apart (a struct and an int never match). */
struct mm_struct___seqcount {
  seqcount_t mm_lock_seq;
} KHOD_CORE;
struct mm_struct___int {
  int mm_lock_seq;
} KHOD_CORE;

struct mm_struct___count {
  int map_count;
} KHOD_CORE;

struct task_struct {
  int tgid;
  struct mempolicy *mempolicy; /* CONFIG_NUMA */
} KHOD_CORE;

struct seq_file;

struct bpf_iter_meta {
  struct seq_file *seq;
  __u64 session_id;
  __u64 seq_num;
} KHOD_CORE;

struct bpf_iter__task_vma {
  struct bpf_iter_meta *meta;
  struct task_struct *task;
  struct vm_area_struct *vma;
} KHOD_CORE;

#endif /* KHOD_KERNEL_BPF_VMA_POLICY_KERNEL_TYPES_H_ */
