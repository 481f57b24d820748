#include "common/thread_shares.h"

#include <sched.h>

#include <algorithm>
#include <system_error>
#include <thread>
#include <utility>

namespace khod {

int AffinityCpuCount() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof(set), &set) != 0) return 1;
  return std::max(1, CPU_COUNT(&set));
}

int ThreadsToUse(int asked) { return asked > 0 ? asked : AffinityCpuCount(); }

Status RunShares(int n, const std::function<Status(int)>& share) {
  return RunShares(n, share,
                   [](std::function<void()> body) { return std::thread(std::move(body)); });
}

Status RunShares(int n, const std::function<Status(int)>& share, const ShareThreadStart& start) {
  if (n <= 1) return share(0);
  std::vector<Status> results(static_cast<size_t>(n));
  std::vector<std::thread> threads;
  threads.reserve(static_cast<size_t>(n - 1));
  // Shares [1, started) have a thread. A thread that cannot be started stops
  // the starting: the vector must not be left with joinable threads (its
  // destructor would call std::terminate), and the work is not lost.
  int started = 1;
  for (; started < n; ++started) {
    try {
      threads.push_back(start([&results, &share, i = started] { results[i] = share(i); }));
    } catch (...) {  // std::system_error, or std::bad_alloc making its body
      break;
    }
  }
  results[0] = share(0);
  for (int i = started; i < n; ++i) results[i] = share(i);
  for (std::thread& t : threads) t.join();
  for (const Status& s : results)
    if (!s.ok()) return s;
  return Status::Ok();
}

std::vector<size_t> BalancedCuts(const std::vector<uint64_t>& weights, int n) {
  n = std::max(1, n);
  uint64_t total = 0;
  for (uint64_t w : weights) total += w;
  std::vector<size_t> cuts(static_cast<size_t>(n) + 1, weights.size());
  cuts[0] = 0;
  // Share i ends at the first item past which the running total reaches
  // total * (i + 1) / n: every share is within one item's weight of its part.
  size_t at = 0;
  uint64_t acc = 0;
  for (int i = 0; i + 1 < n; ++i) {
    const unsigned __int128 goal = static_cast<unsigned __int128>(total) * (i + 1) / n;
    while (at < weights.size() && acc < goal) acc += weights[at++];
    cuts[static_cast<size_t>(i) + 1] = at;
  }
  return cuts;
}

}  // namespace khod
