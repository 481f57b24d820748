// A process's anonymous memory (RssAnon of /proc/PID/status), for the benches
// that report what khod or the capture itself holds: guest pages are file
// pages (shmem, guest_memfd), never counted here.
#ifndef KHOD_BENCH_PROCESS_MEMORY_H_
#define KHOD_BENCH_PROCESS_MEMORY_H_

#include <sys/types.h>

#include <cstdint>

namespace khod {

// RssAnon of process `pid` (0: this one) in KiB; 0 when unreadable.
uint64_t RssAnonKb(pid_t pid = 0);

}  // namespace khod

#endif  // KHOD_BENCH_PROCESS_MEMORY_H_
