// content_hash_bench: khod's content hash through a mapping (capture/
// content_hash.h HashExtents, the path guest_memfd takes) and from pread
// (memfds), over a 1 GiB shmem memfd written in 2-page pieces interleaved
// with another file's (many extents, as a fragmented host gives), every page
// present in the bench's own mapping as khod's capture leaves it. Counters:
// GB/s, ns per extent. Needs root (PFNs). Build with -c opt, run from bazel-bin.
#include <benchmark/benchmark.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <vector>

#include "capture/content_hash.h"
#include "capture/folio_extent_builder.h"
#include "common/thread_shares.h"
#include "kernel/pagemap.h"

namespace khod {
namespace {

constexpr uint64_t kPage = 4096, kPages = (1ull << 30) / kPage;

struct Guest {
  int fd = -1, other = -1;
  uint8_t* base = nullptr;
  std::optional<PageFrameReader> frames;
  FolioList extents;
};

const Guest& TheGuest() {
  static Guest* g = [] {
    auto* g = new Guest;
    g->fd = ::memfd_create("hashed", MFD_CLOEXEC);
    g->other = ::memfd_create("between", MFD_CLOEXEC);
    if (::ftruncate(g->fd, kPages * kPage) || ::ftruncate(g->other, kPages * kPage)) std::abort();
    auto* a = static_cast<uint8_t*>(
        ::mmap(nullptr, kPages * kPage, PROT_READ | PROT_WRITE, MAP_SHARED, g->fd, 0));
    auto* b = static_cast<uint8_t*>(
        ::mmap(nullptr, kPages * kPage, PROT_READ | PROT_WRITE, MAP_SHARED, g->other, 0));
    if (a == MAP_FAILED || b == MAP_FAILED) std::abort();
    for (uint64_t p = 0; p < kPages; ++p) {
      a[p * kPage] = static_cast<uint8_t>(p);
      if (p % 2 == 1) b[p * kPage] = 1;  // the next allocation lands elsewhere
    }
    g->base = a;
    Result<PageFrameReader> r = PageFrameReader::Open();
    if (!r.ok()) {
      std::fprintf(stderr, "content_hash_bench: %s\n", r.status().ToString().c_str());
      std::exit(1);
    }
    g->frames.emplace(std::move(*r));
    std::vector<uint64_t> pm(kPages);
    if (!g->frames->ReadPagemap(a, kPages, pm.data()).ok()) std::abort();
    FolioExtentBuilder runs;  // PFN runs joined as a capture joins them
    for (uint64_t p = 0; p < kPages; ++p) {
      const uint64_t pfn = PagemapPfn(pm[p]);
      if (pfn == 0) {
        std::fprintf(stderr, "content_hash_bench: no PFNs (needs root)\n");
        std::exit(1);
      }
      runs.AddRun(p, pfn, 1, 0, 0, true);
    }
    g->extents = runs.TakeExtents();
    return g;
  }();
  return *g;
}

void BM_HashExtents(benchmark::State& state, bool through_mapping, bool all_cpus) {
  const Guest& g = TheGuest();
  FolioExtentBuilder b;
  b.Assign(g.extents);
  HashSource src;
  src.fd = g.fd;
  src.through_mapping = through_mapping;
  src.base = g.base;
  src.frames = &*g.frames;
  src.describe = "bench memfd";
  const int threads = all_cpus ? AffinityCpuCount() : 1;
  for (auto _ : state) {
    GuestMemfd out;
    Status s = HashExtents(src, b, threads, &out);
    if (!s.ok()) state.SkipWithError(s.ToString().c_str());
    benchmark::DoNotOptimize(out.hashes.data());
  }
  state.counters["GB_per_s"] = benchmark::Counter(static_cast<double>(kPages * kPage) / 1e9,
                                                  benchmark::Counter::kIsIterationInvariantRate);
  state.counters["extents"] = static_cast<double>(g.extents.size());
  state.counters["ns_per_extent"] = benchmark::Counter(
      static_cast<double>(g.extents.size()),
      benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

BENCHMARK_CAPTURE(BM_HashExtents, through_mapping, true, false)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_HashExtents, through_mapping_all_cpus, true, true)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_HashExtents, pread, false, false)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_HashExtents, pread_all_cpus, false, true)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace khod
