// Rebuild one guest_memfd on the new side when no fd was carried across:
// a new file of the same kind, size and flags. Its NUMA policy is brought
// back apart, where it sticks (restore/policy_restore.h). Memory contents are
// not in the blob, so a rebuilt object has new folios: verify reports that,
// it is not hidden.
#ifndef KHOD_RESTORE_REBUILD_H_
#define KHOD_RESTORE_REBUILD_H_

#include "common/status.h"
#include "common/unique_fd.h"
#include "state/snapshot.h"

namespace khod {

// guest_memfd needs a kernel that makes one (/dev/kvm, a VM to create it on,
// KVM_CAP_GUEST_MEMFD and the frozen flags): Unsupported, saying which is
// missing, without.
// HugeTLB memfds need free hugepages of the hstate: IoError (ENOMEM) otherwise.
Result<UniqueFd> RebuildMemoryFile(const GuestMemfd& frozen);

}  // namespace khod

#endif  // KHOD_RESTORE_REBUILD_H_
