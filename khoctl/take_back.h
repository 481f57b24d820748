// The restarted VMM's side of the handback: after Restore, khod holds each
// restored memory file on an fd of its own (GmemInfo.khod_fd, valid from
// RESTORED until Finish); the VMM takes it with pidfd_open(khod pid) +
// pidfd_getfd, the counterpart of khod's Attach. Needs ptrace rights over
// khod (root, or CAP_SYS_PTRACE).
#ifndef KHOD_KHOCTL_TAKE_BACK_H_
#define KHOD_KHOCTL_TAKE_BACK_H_

#include <cstdint>

#include "common/status.h"
#include "common/unique_fd.h"
#include "kernel/memory_file.h"
#include "proto/khod.pb.h"

namespace khod {

struct TakenBack {
  UniqueFd fd;                  // this process's reference to the restored file
  MemoryFileIdentity identity;  // what it is (kind, inode, size)
};

// FailedPrecondition when `gmem` has no khod_fd (before RESTORED, after
// Finish, MODEL guests) or the file taken is not the kind and size khod
// reports; otherwise the errors of TakeFdFromProcess.
Result<TakenBack> TakeBackFromKhod(uint32_t khod_pid, const v1::GmemInfo& gmem);

}  // namespace khod

#endif  // KHOD_KHOCTL_TAKE_BACK_H_
