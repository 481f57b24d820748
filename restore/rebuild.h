// Rebuild one guest_memfd on the new side when no fd was carried across:
// a new file of the same kind, size and flags, with the same mempolicy (mbind
// on a mapping of it). Memory contents are not in the blob, so a rebuilt
// object has new folios: verify reports that, it is not hidden.
#ifndef KHOD_RESTORE_REBUILD_H_
#define KHOD_RESTORE_REBUILD_H_

#include "common/status.h"
#include "kernel/unique_fd.h"
#include "state/snapshot.h"

namespace khod {

// guest_memfd needs /dev/kvm (a VM to create it on): Unsupported without it.
// HugeTLB memfds need free hugepages of the hstate: IoError (ENOMEM) otherwise.
Result<UniqueFd> RebuildMemoryFile(const GuestMemfd& frozen);

// Sets `frozen.policy` on the file `fd` (mbind over a PROT_NONE mapping of
// it): for a rebuilt file, and for an adopted one whose transport reset the
// policy (memfd LUO: mm/memfd_luo.c does not carry it). A default policy is
// left alone; a file that cannot be mapped keeps what it has (verify says so).
Status ReapplyMempolicy(int fd, const GuestMemfd& frozen);

}  // namespace khod

#endif  // KHOD_RESTORE_REBUILD_H_
