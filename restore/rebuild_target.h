// Rebuild targets: guest_memfds the restarted VMM created on its own VM and
// offers for khod to rebuild into (RestoreRequest.rebuild_into). KVM binds a
// guest_memfd to the VM it was created on and answers VM ioctls only in the
// process that created the VM (kvm_vm_ioctl: EIO when kvm->mm !=
// current->mm), so khod cannot create a guest_memfd the VMM could bind: the
// VMM creates it, khod takes it (pidfd_getfd) and checks it here.
#ifndef KHOD_RESTORE_REBUILD_TARGET_H_
#define KHOD_RESTORE_REBUILD_TARGET_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/unique_fd.h"
#include "state/snapshot.h"

namespace khod {

struct RebuildTargetOffer {
  uint64_t token = 0;     // frozen gmem to rebuild into this file
  uint64_t vm_token = 0;  // the VM the VMM made it on
  int pid = 0;
  int fd = -1;
};

struct RebuildTarget {
  UniqueFd fd;       // khod's own reference (taken with pidfd_getfd)
  std::string what;  // "guest_memfd fd 7 of pid 1234 (VM 1)"
};

// How an offer's file is taken; null: pidfd_getfd (TakeFdFromProcess). khod
// takes it under its caller's access check (daemon/caller_access.h), so the
// process whose credentials were checked is the one the file comes from.
using TakeOfferedFd = std::function<Result<UniqueFd>(size_t index, const RebuildTargetOffer&)>;

// Checks every offer against `frozen` and takes its file with `take`, all
// before the caller touches anything: a pid/fd that is not a process's open
// guest_memfd, a token offered twice, a token not in the snapshot or not a
// kernel guest_memfd there, another vm_token or another size than the frozen
// gmem's, a file whose mmap(PROT_NONE) works where the frozen gmem was made
// without MMAP or fails where it had MMAP (only where the frozen MMAP bit is
// known: CheckOfferedGmemMmap, restore/gmem_flags.h), or one file offered for
// two tokens refuses them all (the files taken so far are closed). Errors name
// the offer ("rebuild_into[1]"), its pid and fd and what the file is. Keyed by
// gmem token.
Result<std::map<uint64_t, RebuildTarget>> TakeRebuildTargets(
    const std::vector<RebuildTargetOffer>& offers, const Snapshot& frozen,
    const TakeOfferedFd& take = nullptr);

}  // namespace khod

#endif  // KHOD_RESTORE_REBUILD_TARGET_H_
