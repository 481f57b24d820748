#include "kernel/pidfd.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <utility>

namespace khod {

Result<UniqueFd> OpenPidfd(pid_t pid) {
  const std::string name = "pid " + std::to_string(pid);
  if (pid <= 0) return Status::InvalidArgument(name + " is not a process id");
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (!pidfd.valid()) {
    const int err = errno;
    if (err == ESRCH) return Status::NotFound("no process with " + name);
    // With flags 0 and pid > 0: the id of a thread that does not lead its group (ENOENT since
    // Linux 6.15; EINVAL before, which then also meant a process reaped during the call).
    if (err == EINVAL || err == ENOENT)
      return Status::InvalidArgument(name + " is not a process (a thread's id?)");
    return Status::FromErrno("pidfd_open " + std::to_string(pid), err);
  }
  if (pidfd.get() <= STDERR_FILENO) {
    UniqueFd moved(::fcntl(pidfd.get(), F_DUPFD_CLOEXEC, STDERR_FILENO + 1));
    if (!moved.valid())
      return Status::FromErrno("moving the pidfd of " + name + " above fd 2", errno);
    pidfd = std::move(moved);
  }
  return pidfd;
}

}  // namespace khod
