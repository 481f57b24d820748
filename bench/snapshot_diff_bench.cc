// snapshot_diff_bench: Verify's compare (DiffSnapshots) of two equal captures
// of one file cut in N extents, its contents hashed on both sides or on
// neither (where the contents' part, UNVERIFIED_CONTENTS_NOT_HASHED, is
// counted). Verify runs inside the blackout, so its compare is priced by the
// extents, never by the guest's pages. Build with -c opt and run from bazel-bin.
#include <benchmark/benchmark.h>

#include <cstdint>

#include "state/snapshot.h"
#include "verify/snapshot_diff.h"

namespace khod {
namespace {

// A kernel file of `extents` one-page extents one page apart, each at its own
// PFN, and, when `hashed`, a hash over each.
Snapshot OneFile(int64_t extents, bool hashed) {
  Snapshot s;
  GuestMemfd g;
  g.token = 1;
  g.name = "ram0";
  g.kind = FileKind::kShmemMemfd;
  g.size = static_cast<uint64_t>(extents) * 2 * 4096;
  for (int64_t i = 0; i < extents; ++i) {
    const uint64_t index = static_cast<uint64_t>(i) * 2;
    g.folios.push_back(FolioExtent{index, 0x100000 + index, 1, 0, kFolioUptodate});
    if (hashed) g.hashes.push_back(ContentHash{index, 1, index * 7 + 1});
  }
  s.gmems.push_back(std::move(g));
  return s;
}

void BM_DiffEqual(benchmark::State& state, bool hashed) {
  const Snapshot a = OneFile(state.range(0), hashed), b = a;
  for (auto _ : state) benchmark::DoNotOptimize(DiffSnapshots(a, b));
  state.counters["extents"] = static_cast<double>(state.range(0));
}

BENCHMARK_CAPTURE(BM_DiffEqual, hashed, true)
    ->Arg(15646)
    ->Arg(34415)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_DiffEqual, not_hashed, false)
    ->Arg(15646)
    ->Arg(34415)
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace khod
