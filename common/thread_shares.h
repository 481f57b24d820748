// Work cut into shares, one per thread, so that what khod does inside the
// blackout scales with the cores it may use: a capture's kernel work
// (pagemap, mincore, populating, kpageflags) and the blob's tables (encoded
// and decoded a chunk at a time). A share is run on this thread and every
// other one on a thread of its own; the first error (by share number) wins.
#ifndef KHOD_COMMON_THREAD_SHARES_H_
#define KHOD_COMMON_THREAD_SHARES_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

#include "common/status.h"

namespace khod {

// The CPUs of this process's affinity mask (sched_getaffinity), at least 1.
int AffinityCpuCount();

// A thread count as khod's options give it (--capture-threads,
// CodecOptions::threads): `asked` when positive, else AffinityCpuCount().
int ThreadsToUse(int asked);

// Runs share(0) .. share(n - 1), share(0) on this thread, and waits for all.
// Returns the error of the lowest-numbered share that failed, else Ok.
// When a thread cannot be started (std::system_error: a process or cgroup
// limit on threads; or no memory for it), the threads already started are kept, the shares left
// without one run on this thread after share(0), and every share still runs
// once: fewer threads are slower, never an abort.
Status RunShares(int n, const std::function<Status(int)>& share);

// How RunShares starts the thread of one share: std::thread's constructor by
// default. The seam exists for tests alone (a start that throws
// std::system_error on its N-th call stands for the kernel refusing a
// thread); production code calls the overload above.
using ShareThreadStart = std::function<std::thread(std::function<void()> body)>;
Status RunShares(int n, const std::function<Status(int)>& share, const ShareThreadStart& start);

// Cuts `weights` (in order) into `n` consecutive shares of about equal total
// weight: share i is [cuts[i], cuts[i + 1]), cuts.front() == 0 and
// cuts.back() == weights.size(). A share may be empty. n >= 1.
std::vector<size_t> BalancedCuts(const std::vector<uint64_t>& weights, int n);

}  // namespace khod

#endif  // KHOD_COMMON_THREAD_SHARES_H_
