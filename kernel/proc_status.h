// One number of /proc/PID/status ("FDSize:", "RssAnon:", ...): a count, or a
// size in kB, as the kernel prints them on a "Key:\tN" or "Key:\tN kB" line.
#ifndef KHOD_KERNEL_PROC_STATUS_H_
#define KHOD_KERNEL_PROC_STATUS_H_

#include <sys/types.h>

#include <cstdint>
#include <string_view>

#include "common/status.h"

namespace khod {

// The number on the `key` line (colon included) of process `pid`'s status
// (0: this process's). NotFound when there is no such line, Corruption when
// it holds no number.
Result<uint64_t> ProcStatusNumber(pid_t pid, std::string_view key);

}  // namespace khod

#endif  // KHOD_KERNEL_PROC_STATUS_H_
