// /proc/PID/stat's state letter and parent pid, and the check khod makes of a
// child it adopts across a reexec (mapping holder, PTE keeper) before trusting it.
#ifndef KHOD_KERNEL_PROC_STAT_H_
#define KHOD_KERNEL_PROC_STAT_H_

#include <sys/types.h>

#include <string_view>

#include "common/status.h"

namespace khod {

struct ProcStat {
  char state = '?';  // R, S, D, Z, T, ...
  pid_t ppid = 0;
};

// Parses "pid (comm) state ppid ..." (comm may hold spaces and parentheses).
Result<ProcStat> ParseProcStat(std::string_view line);
// NotFound when the process does not exist; a read that fails otherwise
// (EMFILE...) is that error, never NotFound.
Result<ProcStat> ReadProcStat(pid_t pid);

// The checks of an adopted child: `pid` is this process's child and has not
// exited; `what` names it in errors ("mapping holder"). FailedPrecondition
// when it is not a child of this process (or does not exist); NotFound when
// it has exited, and then it is reaped here (else it stays a zombie: no one
// else waits for a child this process was handed). Asked of waitid(WNOWAIT,
// __WALL), not of /proc/PID/stat: it needs no fd, so a full fd table
// (EMFILE, ENFILE) cannot fail an adopt and leave a live child, that holds
// every guest mapping, neither used nor killed.
Status CheckOwnLiveChild(pid_t pid, const char* what);

}  // namespace khod

#endif  // KHOD_KERNEL_PROC_STAT_H_
