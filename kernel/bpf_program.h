// A BPF iterator program embedded in khod (kernel/bpf/), opened from its bytes and loaded with
// libbpf, which relocates it (CO-RE) against the running kernel's BTF; and the iterators of it
// over one process. The loading and the kernel's refusals, said once for every program.
#ifndef KHOD_KERNEL_BPF_PROGRAM_H_
#define KHOD_KERNEL_BPF_PROGRAM_H_

#include <sys/types.h>

#include <cstddef>
#include <string>

#include "common/status.h"
#include "common/unique_fd.h"

struct bpf_object;

namespace khod {

class BpfProgram {
 public:
  // Opens the ELF object `object` (`size` bytes) and loads its program `name`. Unsupported
  // (no kernel BTF, the verifier or the kernel refused it) or PermissionDenied (no CAP_BPF
  // and CAP_PERFMON) saying why with libbpf's last words, Corruption when the object does
  // not open, never a crash.
  static Result<BpfProgram> Load(const unsigned char* object, size_t size, const char* name);
  BpfProgram(BpfProgram&& o) noexcept;
  BpfProgram& operator=(BpfProgram&& o) noexcept;
  BpfProgram(const BpfProgram&) = delete;
  BpfProgram& operator=(const BpfProgram&) = delete;
  ~BpfProgram();

  // A new iterator of the program over process `pid`, which `pidfd` names (OpenPidfd: never
  // fd 0, on which the kernel would walk every process): read it to the end, or as far as
  // the records say. `kind` names the iterator in errors ("task_vma"). NotFound when the
  // process does not exist, Unsupported when the kernel refuses a task iterator with a pidfd
  // target (before Linux 6.1).
  Result<UniqueFd> OpenTaskIterator(pid_t pid, int pidfd, const char* kind) const;

 private:
  BpfProgram(bpf_object* object, int fd) : object_(object), fd_(fd) {}
  bpf_object* object_ = nullptr;  // owns fd_
  int fd_ = -1;
};

}  // namespace khod

#endif  // KHOD_KERNEL_BPF_PROGRAM_H_
