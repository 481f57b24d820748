// MappingHolder: keeps this process's address space alive across exec().
//
// exec() tears down the old address space before the new program starts: with
// 2 GiB of populated guest memory mapped that is 0.5 M page table entries and
// rmap updates to tear down, spent while the guests are paused.
// A holder is a child made with clone(CLONE_VM): it shares the address space,
// so exec() in khod only drops a reference and the old mappings stay, already
// populated. The new khod reads their PFNs through /proc/HOLDER/pagemap
// (kernel/held_mapping.h) instead of populating mappings of its own, then
// releases the holder, whose exit frees the old address space off the
// blackout's critical path.
//
// The holder runs no code of khod's: it blocks every signal, closes every fd
// it inherited but those Spawn is asked to keep (so no socket or fd outlives
// khod's intent), asks to be killed
// when the thread that made it dies (PR_SET_PDEATHSIG: that thread is the one
// that execs, so the new khod's exit ends it too), exits at once if khod died
// before it asked (it is re-parented then), and waits for SIGKILL.
// Userspace only: nothing of this survives a kexec, where the new kernel's
// khod populates its own mappings.
#ifndef KHOD_KERNEL_MAPPING_HOLDER_H_
#define KHOD_KERNEL_MAPPING_HOLDER_H_

#include <sys/types.h>

#include <chrono>
#include <vector>

#include "common/status.h"

namespace khod {

class MappingHolder {
 public:
  MappingHolder() = default;
  MappingHolder(MappingHolder&& o) noexcept : pid_(o.pid_) { o.pid_ = -1; }
  MappingHolder& operator=(MappingHolder&& o) noexcept;
  ~MappingHolder() { Release(); }

  // Old side, from the thread about to exec: starts the holder and waits
  // until it has closed its fds but `keep` (at most 4,096 kept). Kept: the
  // userfaultfds of khod's guarded mappings (kernel/residency.h), whose
  // release walks the page tables of the mappings they registered, unless
  // their address space is gone: the holder closes them at its exit, after
  // its address space, instead of the exec in the blackout.
  static Result<MappingHolder> Spawn(std::vector<int> keep = {});
  // New side: `pid` must be a child of this process (it was the old khod's,
  // and exec keeps children); anything else is refused, naming what it is.
  static Result<MappingHolder> Adopt(pid_t pid);

  pid_t pid() const { return pid_; }
  bool held() const { return pid_ > 0; }
  // Kills the holder and reaps it on a detached thread: the old address
  // space is freed in the background. Idempotent.
  void Release();
  // Forgets the holder without killing it (the exec succeeded: it is the new
  // khod's now).
  pid_t Detach();

  // Test hook: every holder spawned after this waits `delay` before it asks
  // to be killed with its parent (the window a parent's death can fall in).
  static void DelayStartForTest(std::chrono::nanoseconds delay);

 private:
  explicit MappingHolder(pid_t pid) : pid_(pid) {}
  pid_t pid_ = -1;
};

}  // namespace khod

#endif  // KHOD_KERNEL_MAPPING_HOLDER_H_
