#include "bench/content_floor.h"

#include <sys/mman.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "common/xxh3.h"

namespace khod {
namespace {

using Clock = std::chrono::steady_clock;
double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

uint64_t SumWords(const char* p, uint64_t bytes) {
  const uint64_t* w = reinterpret_cast<const uint64_t*>(p);
  uint64_t a = 0, b = 0, c = 0, d = 0;
  for (uint64_t i = 0; i + 4 <= bytes / 8; i += 4)
    a += w[i], b += w[i + 1], c += w[i + 2], d += w[i + 3];
  return a + b + c + d;
}

// Runs `f(begin, bytes)` over `threads` equal shares of [p, p + bytes); ms.
template <typename F>
double Parallel(const char* p, uint64_t bytes, int threads, F f) {
  const uint64_t share = bytes / static_cast<uint64_t>(threads) / 4096 * 4096;
  std::vector<std::thread> ts;
  const auto t0 = Clock::now();
  for (int i = 0; i < threads; ++i) {
    const uint64_t off = share * static_cast<uint64_t>(i);
    const uint64_t n = i + 1 == threads ? bytes - off : share;
    ts.emplace_back([=] { f(p + off, n); });
  }
  for (std::thread& t : ts) t.join();
  return Ms(Clock::now() - t0);
}

// Where the reads' results go, so that the compiler keeps the reads.
std::atomic<uint64_t> g_sink{0};

}  // namespace

std::optional<ContentCost> MeasureContentCost(int memfd, uint64_t bytes, int threads) {
  auto read = [](const char* b, uint64_t n) { g_sink += SumWords(b, n); };
  ContentCost c;
  void* fresh = ::mmap(nullptr, bytes, PROT_READ, MAP_SHARED, memfd, 0);
  if (fresh == MAP_FAILED) return std::nullopt;
  c.fresh_read_n_ms = Parallel(static_cast<const char*>(fresh), bytes, threads, read);
  ::munmap(fresh, bytes);
  const auto t_populate = Clock::now();
  void* m = ::mmap(nullptr, bytes, PROT_READ, MAP_SHARED | MAP_POPULATE, memfd, 0);
  if (m == MAP_FAILED) return std::nullopt;
  c.populate_ms = Ms(Clock::now() - t_populate);
  const char* p = static_cast<const char*>(m);
  auto hash = [](const char* b, uint64_t n) { g_sink += Xxh3(b, n); };
  c.threads = threads;
  Parallel(p, bytes, 1, read);  // warm: the page tables, the caches' state
  c.read_1_ms = Parallel(p, bytes, 1, read);
  c.hash_1_ms = Parallel(p, bytes, 1, hash);
  c.read_n_ms = Parallel(p, bytes, threads, read);
  c.hash_n_ms = Parallel(p, bytes, threads, hash);
  ::munmap(m, bytes);
  return c;
}

}  // namespace khod
