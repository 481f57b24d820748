// Rebuild one guest_memfd on the new side when no fd was carried across:
// a new file of the same kind, size and flags, never a guessed flag. Its NUMA policy is brought
// back apart, where it sticks (restore/policy_restore.h). Memory contents are
// not in the blob, so a rebuilt object has new folios: verify reports that,
// it is not hidden.
#ifndef KHOD_RESTORE_REBUILD_H_
#define KHOD_RESTORE_REBUILD_H_

#include "common/status.h"
#include "common/unique_fd.h"
#include "state/snapshot.h"

namespace khod {

// A guest_memfd is created only with flags known of the frozen one
// (RebuildGmemFlags, restore/gmem_flags.h: observed by the capture, or carried
// in `frozen.flags` as declared; a caller that holds the Attach declaration
// passes RebuildDescription with the flags it decided): a bit neither declared
// nor observed is FailedPrecondition naming the gmem, before any kernel is
// asked. It then needs a kernel that makes one (/dev/kvm, a VM to create it
// on, KVM_CAP_GUEST_MEMFD and those flags): Unsupported, saying which is
// missing, without.
// HugeTLB memfds need free hugepages of the hstate: IoError (ENOMEM) otherwise.
Result<UniqueFd> RebuildMemoryFile(const GuestMemfd& frozen);

}  // namespace khod

#endif  // KHOD_RESTORE_REBUILD_H_
