// /proc/PID/stat's state letter and parent pid: what khod checks of a child
// it adopts across a reexec (mapping holder, PTE keeper) before trusting it.
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
// NotFound when the process does not exist.
Result<ProcStat> ReadProcStat(pid_t pid);

// The checks of an adopted child: `pid` exists, is this process's child and
// has not exited; `what` names it in errors ("mapping holder"). A child of
// this process that has exited is reaped here (else it stays a zombie: no
// one else waits for a child this process was handed).
Status CheckOwnLiveChild(pid_t pid, const char* what);

}  // namespace khod

#endif  // KHOD_KERNEL_PROC_STAT_H_
