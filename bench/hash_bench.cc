// hash_bench: khod's XXH3-64 (common/xxh3.h: AVX2 where the CPU has it)
// against the library's own XXH3_64bits (Debian's SSE2 build), over a frozen
// blob's size at 1.59 M extents (38 MB), the 16.8 M-extent worst case
// (384 MB) and one 4 KiB page (a content hash's unit). Counter: GB/s.
// Build with -c opt and run from bazel-bin.
#include <benchmark/benchmark.h>
#include <xxhash.h>

#include <cstdint>
#include <vector>

#include "common/xxh3.h"

namespace khod {
namespace {

// One buffer of the largest size, written before any run: every case reads
// memory in the same state (a buffer grown for a later case was fresh
// memory to the first case that read it, a third of the speed here).
constexpr size_t kMostBytes = size_t{384} << 20;
const uint8_t* Bytes() {
  static const std::vector<uint8_t> b = [] {
    std::vector<uint8_t> v(kMostBytes);
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<uint8_t>(i * 131 + (i >> 12));
    return v;
  }();
  return b.data();
}

void BM_Hash(benchmark::State& state, size_t bytes, bool khod) {
  const uint8_t* p = Bytes();
  for (auto _ : state) benchmark::DoNotOptimize(khod ? Xxh3(p, bytes) : XXH3_64bits(p, bytes));
  state.counters["GB_per_s"] = benchmark::Counter(static_cast<double>(bytes) / 1e9,
                                                  benchmark::Counter::kIsIterationInvariantRate);
  state.counters["avx2"] = khod && Xxh3UsesAvx2() ? 1 : 0;
}

BENCHMARK_CAPTURE(BM_Hash, library_4k, 4096, false);
BENCHMARK_CAPTURE(BM_Hash, khod_4k, 4096, true);
BENCHMARK_CAPTURE(BM_Hash, library_38m, 38u << 20, false)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Hash, khod_38m, 38u << 20, true)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Hash, library_384m, 384u << 20, false)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Hash, khod_384m, 384u << 20, true)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace khod
