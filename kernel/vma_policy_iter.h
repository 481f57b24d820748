// Every VMA of a process with its NUMA policy (kernel/vma_policy.h), read by a BPF task_vma
// iterator (kernel/bpf/vma_policy.bpf.c): its cost grows with the VMAs, where
// /proc/PID/numa_maps walks every page mapped. A VMA it does not answer (a get_policy op
// decides its policy: shmem, and guest_memfd where a kernel gives it a shared policy) is read
// from numa_maps by the caller.
//
// Loading needs the kernel's BTF (/sys/kernel/btf/vmlinux), the task_vma iterator with a
// pidfd target (Linux 6.1), mm->mm_lock_seq (CONFIG_PER_VMA_LOCK, Linux 6.4 and later: without
// it no read can be proven consistent, and Load refuses the kernel as Unsupported; a read is
// consistent when its records agree on it, and hold it even where it is a seqcount, Linux
// 6.13 and later, as kernel/vma_policy.h says) and CAP_BPF + CAP_PERFMON (root has both).
#ifndef KHOD_KERNEL_VMA_POLICY_ITER_H_
#define KHOD_KERNEL_VMA_POLICY_ITER_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "kernel/bpf_program.h"
#include "kernel/vma_policy.h"

namespace khod {

// What reads every VMA of a process with its policy: VmaPolicyIterator, or a test's fake
// (ProcessMappingsCache asks one, kernel/file_mappings.h, and relies on this contract).
class VmaPolicyReader {
 public:
  virtual ~VmaPolicyReader() = default;
  // Every VMA of `pid` as one read made after the call began shows them, none left out:
  // the caller takes them as the process's mappings, or joins them with the maps text it
  // read just before, where a VMA changed in between gives that text nothing. NotFound when
  // the process has no address space (gone, or its main thread exited: the caller's maps
  // text tells which); any other error sends the caller to numa_maps. Safe to call from
  // several threads at once.
  virtual Result<std::vector<VmaPolicy>> Read(pid_t pid) const = 0;
};

class VmaPolicyIterator : public VmaPolicyReader {
 public:
  // Loads the program once and reads this process's own VMAs with it, so a kernel that
  // loads it but cannot run it is refused here (a read its own threads make Busy passes).
  // Unsupported (no BTF, no task_vma iterator, no mm_lock_seq, the verifier refused it) or
  // PermissionDenied (no CAP_BPF + CAP_PERFMON) saying why, never a crash.
  static Result<std::unique_ptr<VmaPolicyIterator>> Load();
  // The same over a program loaded already (one a previous khod handed over:
  // BpfProgram::Adopt): the read of this process's own VMAs proves it of this khod's layout.
  static Result<std::unique_ptr<VmaPolicyIterator>> FromProgram(BpfProgram program);
  VmaPolicyIterator(const VmaPolicyIterator&) = delete;
  VmaPolicyIterator& operator=(const VmaPolicyIterator&) = delete;

  // Every VMA of `pid` in address order, one consistent read: retried a bounded number of
  // times while the process's mappings change, Busy naming that if they never settle.
  // NotFound when the process is gone (or exits during the read), InvalidArgument when
  // `pid` is not a process (a thread's id). Safe to call from several threads at once.
  Result<std::vector<VmaPolicy>> Read(pid_t pid) const override;

  // The program's fd (this iterator's), for a reexec to hand over.
  int program_fd() const { return program_.fd(); }

 private:
  explicit VmaPolicyIterator(BpfProgram program) : program_(std::move(program)) {}
  // One read of the iterator's output for the process `pidfd` refers to, into *buffer
  // (grown, and left grown, when the output does not fit).
  Result<std::vector<VmaPolicy>> ReadOnce(pid_t pid, int pidfd, std::string* buffer) const;

  BpfProgram program_;
};

// The process-wide iterator, loaded on first use and kept; nullptr when it cannot be, with
// the reason in *why_not (the same reason every time: loaded once).
const VmaPolicyIterator* SharedVmaPolicyIterator(std::string* why_not = nullptr);

}  // namespace khod

#endif  // KHOD_KERNEL_VMA_POLICY_ITER_H_
