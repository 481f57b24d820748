// A pidfd for a process (pidfd_open): the one place khod opens one, and the one mapping of
// pidfd_open's errors to a Status. A pidfd names the process `pid` named when it was opened,
// for as long as it is held: a pid reused afterwards is another process, which the pidfd does
// not follow (pidfd_send_signal, pidfd_getfd and poll act on the process opened, or fail).
#ifndef KHOD_KERNEL_PIDFD_H_
#define KHOD_KERNEL_PIDFD_H_

#include <sys/types.h>

#include "common/status.h"
#include "common/unique_fd.h"

namespace khod {

// Opens a pidfd for process `pid`, close-on-exec and never fd 0, 1 or 2 (moved above 2 when
// pidfd_open returns one of them, which it does when this process's standard fds are closed:
// a BPF task iterator reads a pid_fd of 0 as "every process", and whatever writes to stdout or
// stderr takes 1 and 2 for them). An exited process that is not yet reaped (a zombie) opens.
// Errors name `pid`: InvalidArgument when it is not a process id (<= 0) or is the id of a
// thread that does not lead its thread group; NotFound ("no process with pid N") when no
// process has it; any other failure (EMFILE, ENFILE, ENOMEM) is an IoError with its errno text.
Result<UniqueFd> OpenPidfd(pid_t pid);

}  // namespace khod

#endif  // KHOD_KERNEL_PIDFD_H_
