#include "khoctl/take_back.h"

#include "state/snapshot.h"

namespace khod {

Result<TakenBack> TakeBackFromKhod(uint32_t khod_pid, const v1::GmemInfo& gmem) {
  const std::string what = "gmem " + std::to_string(gmem.token()) + " ('" + gmem.name() + "')";
  if (gmem.khod_fd() <= 0)
    return Status::FailedPrecondition(
        what +
        " has no fd in khod to take back: khod hands restored memory back from RESTORED "
        "until Finish, and MODEL guests have no file");
  const std::string where =
      "fd " + std::to_string(gmem.khod_fd()) + " of khod pid " + std::to_string(khod_pid);
  Result<UniqueFd> fd = TakeFdFromProcess(static_cast<pid_t>(khod_pid), gmem.khod_fd());
  if (!fd.ok()) return fd.status().WithContext("take back " + what);
  Result<MemoryFileIdentity> id = IdentifyMemoryFile(fd->get(), where);
  if (!id.ok()) return id.status().WithContext("take back " + what);
  if (FileKindName(id->kind) != gmem.kind() || id->size != gmem.size())
    return Status::FailedPrecondition("take back " + what + ": " + where + " is a " +
                                      FileKindName(id->kind) + " of " + std::to_string(id->size) +
                                      " bytes, khod reports a " + gmem.kind() + " of " +
                                      std::to_string(gmem.size()));
  TakenBack t;
  t.fd = std::move(*fd);
  t.identity = std::move(*id);
  return t;
}

}  // namespace khod
