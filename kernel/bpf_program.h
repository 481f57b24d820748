// A BPF iterator program embedded in khod (kernel/bpf/), opened from its bytes and loaded with
// libbpf, which relocates it (CO-RE) against the running kernel's BTF; and the iterators of it
// over one process. The loading and the kernel's refusals, said once for every program.
#ifndef KHOD_KERNEL_BPF_PROGRAM_H_
#define KHOD_KERNEL_BPF_PROGRAM_H_

#include <sys/types.h>

#include <cstddef>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

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
  // Takes `fd`, a loaded program a previous khod handed over (a reexec's --bpf-programs),
  // without libbpf or BTF: InvalidArgument, leaving `fd` open and not taken, unless it is a
  // BPF program (bpf_obj_get_info_by_fd) of type BPF_PROG_TYPE_TRACING named `name` (the
  // kernel keeps its first 15 characters). Whether its records are of this khod's layout is
  // for its reader to prove (a read of khod's own process).
  static Result<BpfProgram> Adopt(int fd, const char* name);
  // The program's name as loaded or adopted, and its fd (owned by this object).
  const std::string& name() const { return name_; }
  int fd() const { return fd_; }
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
  BpfProgram(bpf_object* object, int fd, std::string name)
      : object_(object), fd_(fd), name_(std::move(name)) {}
  bpf_object* object_ = nullptr;  // owns fd_ when set; else fd_ is this object's (Adopt)
  int fd_ = -1;
  std::string name_;
};

// Across a reexec (daemon/khod_main.cc): the programs the previous khod handed over, offered
// at start before anything reads with them, each taken (once) by the process-wide reader
// that would otherwise load that program (SharedVmaPolicyIterator, LoadedSharedPolicyIterator).
void OfferAdoptedBpfProgram(BpfProgram program);
std::optional<BpfProgram> TakeAdoptedBpfProgram(const std::string& name);

// The programs this process keeps loaded for good (the process-wide readers note theirs once
// proven), by name and fd, for a reexec to hand over; none until a reader loaded one.
void NoteKeptBpfProgram(const std::string& name, int fd);
std::vector<std::pair<std::string, int>> KeptBpfPrograms();

// A process-wide reader of program `name`: the program a previous khod handed over, where
// Iterator::FromProgram proves it (a read that decodes: no load, no parse of the kernel's BTF
// in the blackout), else Iterator::Load(); noted as kept once it stands. Says on stderr which
// a handed-over program came to. Iterator has FromProgram, Load and program_fd.
template <typename Iterator>
Result<std::unique_ptr<Iterator>> AdoptOrLoadReader(const char* name) {
  Result<std::unique_ptr<Iterator>> it = Status::NotFound("not handed over");
  if (std::optional<BpfProgram> adopted = TakeAdoptedBpfProgram(name)) {
    it = Iterator::FromProgram(std::move(*adopted));
    if (it.ok())
      std::fprintf(stderr, "khod: the BPF program %s handed over by the previous khod reads\n",
                   name);
    else
      std::fprintf(stderr,
                   "khod: the BPF program %s handed over by the previous khod is closed, "
                   "loaded anew: %s\n",
                   name, it.status().ToString().c_str());
  }
  if (!it.ok()) it = Iterator::Load();
  if (it.ok()) NoteKeptBpfProgram(name, (*it)->program_fd());
  return it;
}

}  // namespace khod

#endif  // KHOD_KERNEL_BPF_PROGRAM_H_
