// The shared (inode) NUMA policies of the shmem files a process holds open
// (kernel/shared_policy.h), read by a BPF task_file iterator (kernel/bpf/shared_policy.bpf.c): each
// file's whole tree of page ranges, which no syscall or /proc file shows (get_mempolicy answers for
// one page, numa_maps for the first page of each mapping).
//
// The trees are read without their lock (sp->lock, which a BPF program cannot take): a read is
// taken only when the one after it gives the same bytes. What that cannot see is a tree changed
// and changed back between two reads, or changed in the same way during both; a paused VMM
// does not change its policies. Loading needs what kernel/vma_policy_iter.h's does (kernel BTF,
// Linux 6.1 task iterators with a pidfd target, CAP_BPF + CAP_PERFMON), and bpf_loop (5.17).
#ifndef KHOD_KERNEL_SHARED_POLICY_ITER_H_
#define KHOD_KERNEL_SHARED_POLICY_ITER_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "kernel/bpf_program.h"
#include "kernel/shared_policy.h"

namespace khod {

class SharedPolicyIterator {
 public:
  // Loads the program and reads this process's own files with it, so a kernel that loads it
  // but cannot run it is refused here. Errors as BpfProgram::Load's, never a crash.
  static Result<std::unique_ptr<SharedPolicyIterator>> Load();
  // The same over a program loaded already (one a previous khod handed over:
  // BpfProgram::Adopt): the read of this process's own files proves it of this khod's layout.
  static Result<std::unique_ptr<SharedPolicyIterator>> FromProgram(BpfProgram program);

  // The shmem files `pid` holds open with their shared policies, one per inode: two reads in a
  // row that agree, retried a bounded number of times, Busy naming that if they never agree.
  // NotFound when the process is gone (or exits during the read), ResourceExhausted past a
  // bound on the bytes a read may hold. Safe to call from several threads at once.
  Result<std::vector<SharedPolicyTree>> Read(pid_t pid) const;

  // The program's fd (this iterator's), for a reexec to hand over.
  int program_fd() const { return program_.fd(); }

 private:
  explicit SharedPolicyIterator(BpfProgram program) : program_(std::move(program)) {}
  // The bytes of one read of the iterator over the process `pidfd` refers to.
  Result<std::string> ReadOnce(pid_t pid, int pidfd) const;

  BpfProgram program_;
};

// The process-wide iterator, loaded on first use and kept; nullptr when it cannot be, with the
// reason in *why_not (the same reason every time: loaded once).
const SharedPolicyIterator* LoadedSharedPolicyIterator(std::string* why_not = nullptr);

}  // namespace khod

#endif  // KHOD_KERNEL_SHARED_POLICY_ITER_H_
