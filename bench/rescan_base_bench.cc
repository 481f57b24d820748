// rescan_base_bench: the pass the new khod's read-ahead makes over each
// decoded folio list after the decode (capture/change_scan.h MakeRescanBase:
// the holes and the extents read every time), on one thread and on every CPU
// of the affinity mask, over synthetic lists of serializer_bench's shapes:
//   a_4k_runs214   1 TiB of 4 KiB folios in PFN runs of ~214 pages (1.25 M extents)
//   c_4k_scattered 64 GiB of 4 KiB folios, no two PFNs contiguous (16.8 M extents)
// Counter: ns_per_extent. Build with -c opt and run from bazel-bin.
#include <benchmark/benchmark.h>

#include <map>
#include <memory>

#include "capture/change_scan.h"
#include "common/thread_shares.h"
#include "synth/synthesizer.h"

namespace khod {
namespace {

SynthParams Shape(uint64_t total_bytes, uint64_t run_pages) {
  SynthParams p;
  p.total_bytes = total_bytes;
  p.run_pages = run_pages;
  return p;
}

// Built once per process: generating it is not what is measured.
const FolioList& ListFor(uint64_t total_bytes, uint64_t run_pages) {
  static std::map<std::pair<uint64_t, uint64_t>, std::unique_ptr<Snapshot>> cache;
  auto& slot = cache[{total_bytes, run_pages}];
  if (!slot)
    slot = std::make_unique<Snapshot>(std::move(*Synthesize(Shape(total_bytes, run_pages))));
  const FolioList& list = slot->gmems.front().folios;
  (void)list.facts();  // as after a decode, which works them out
  return list;
}

void BM_RescanBase(benchmark::State& state, uint64_t total_bytes, uint64_t run_pages,
                   bool all_cpus) {
  const FolioList& list = ListFor(total_bytes, run_pages);
  const int threads = all_cpus ? AffinityCpuCount() : 1;
  for (auto _ : state) {
    RescanBase base = MakeRescanBase(list, threads);
    benchmark::DoNotOptimize(base);
  }
  state.counters["threads"] = threads;
  state.counters["extents"] = static_cast<double>(list.size());
  state.counters["ns_per_extent"] = benchmark::Counter(
      static_cast<double>(list.size()),
      benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

#define KHOD_RESCAN_SHAPE(name, bytes, run)                           \
  BENCHMARK_CAPTURE(BM_RescanBase, name, bytes, run, false)           \
      ->Unit(benchmark::kMillisecond)                                 \
      ->UseRealTime();                                                \
  BENCHMARK_CAPTURE(BM_RescanBase, name##_all_cpus, bytes, run, true) \
      ->Unit(benchmark::kMillisecond)                                 \
      ->UseRealTime()

KHOD_RESCAN_SHAPE(a_4k_runs214, 1ull << 40, 214);
KHOD_RESCAN_SHAPE(c_4k_scattered, 64ull << 30, 1);

}  // namespace
}  // namespace khod
