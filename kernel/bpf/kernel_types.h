/* The kernel types the programs of kernel/bpf/ read, declared by hand instead
 * of a generated vmlinux.h: only the fields it uses, each relocated by CO-RE
 * against the running kernel's BTF at load (preserve_access_index), so their
 * offsets here do not matter and a field a kernel lacks is tested with
 * bpf_core_field_exists() before it is read. */
#ifndef KHOD_KERNEL_BPF_KERNEL_TYPES_H_
#define KHOD_KERNEL_BPF_KERNEL_TYPES_H_

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
  unsigned long s_magic;
} KHOD_CORE;

struct inode {
  unsigned short i_mode;
  unsigned long i_ino;
  struct super_block *i_sb;
} KHOD_CORE;

/* include/linux/rbtree_types.h */
struct rb_node {
  unsigned long __rb_parent_color;
  struct rb_node *rb_right;
  struct rb_node *rb_left;
} KHOD_CORE;

struct rb_root {
  struct rb_node *rb_node;
} KHOD_CORE;

/* include/linux/mempolicy.h (CONFIG_NUMA): a file's policy, by page range. */
struct shared_policy {
  struct rb_root root;
} KHOD_CORE;

struct sp_node {
  struct rb_node nd;
  unsigned long start;
  unsigned long end;
  struct mempolicy *policy;
} KHOD_CORE;

/* include/linux/shmem_fs.h: the inode a shmem file's vfs inode is embedded in. */
struct shmem_inode_info {
  struct shared_policy policy; /* CONFIG_NUMA */
  struct inode vfs_inode;
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

/* task_struct's thread id, which the declaration above does not name: CO-RE
 * relocates it against the kernel's task_struct (the ___suffix drops). */
struct task_struct___ids {
  int pid;
  int tgid;
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

struct bpf_iter__task_file {
  struct bpf_iter_meta *meta;
  struct task_struct *task;
  __u32 fd;
  struct file *file;
} KHOD_CORE;

#endif /* KHOD_KERNEL_BPF_KERNEL_TYPES_H_ */
