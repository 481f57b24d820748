// Encode/decode speed and size of both blob formats on the three guest
// shapes that bound the product (issue 2, section 6), and on the same memory
// in one file or in many (issue 12, many VMs):
//   a_4k_runs214   1 TiB of 4 KiB folios in PFN runs of ~214 pages (measured here)
//   b_1g_shared10k 1 TiB of 1 GiB HugeTLB folios, 10,000 shared ranges
//   c_4k_scattered 64 GiB of 4 KiB folios, no two PFNs contiguous (worst case)
//   d_one_guest_2g 2,000 MiB in one guest_memfd, PFN runs of ~16 pages
//   e_100_gmems_2g the same in 100 guest_memfds of 20 MiB on 25 VMs
// Counters: ns_per_folio, blob_bytes_per_folio, and vs_memcpy: this
// operation's time over a plain memcpy of the blob's size measured in the
// same run (into a pre-faulted buffer, so it is pure copy bandwidth).
// Build with -c opt and run from bazel-bin; never through bazel run/test.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <string>

#include "common/thread_shares.h"
#include "common/xxh3.h"
#include "khoctl/snapshot_summary.h"
#include "serializer/serializer.h"
#include "synth/synthesizer.h"

namespace khod {
namespace {

enum class Shape { kRuns214, kHuge1gShared10k, kScattered, kOneGuest2g, kManyGmems2g };

SynthParams ParamsFor(Shape shape) {
  SynthParams p;
  switch (shape) {
    case Shape::kRuns214:
      p.total_bytes = 1ull << 40;
      p.run_pages = 214;
      break;
    case Shape::kHuge1gShared10k:
      p.total_bytes = 1ull << 40;
      p.backing = SynthBacking::k1G;
      p.shared_ranges = 10000;
      break;
    case Shape::kScattered:
      p.total_bytes = 64ull << 30;
      p.run_pages = 1;
      break;
    // blackout_bench's many-VMs case: 2,000 MiB in one guest_memfd, or in
    // 100 of 20 MiB on 25 VMs, in the short PFN runs a used host gives.
    case Shape::kOneGuest2g:
      p.total_bytes = 2000ull << 20;
      p.run_pages = 16;
      break;
    case Shape::kManyGmems2g:
      p.total_bytes = 2000ull << 20;
      p.run_pages = 16;
      p.vms = 25;
      p.gmems_per_vm = 4;
      break;
  }
  return p;
}

// Built once per process: generating them is not what is measured.
const Snapshot& SnapshotFor(Shape shape) {
  static std::map<Shape, std::unique_ptr<Snapshot>> cache;
  auto& slot = cache[shape];
  if (!slot) slot = std::make_unique<Snapshot>(std::move(*Synthesize(ParamsFor(shape))));
  return *slot;
}

// Nanoseconds of one memcpy of `bytes`, best of a few (the floor is what a
// serializer could approach if it only copied its output).
double MemcpyNs(size_t bytes) {
  std::unique_ptr<char[]> src(new char[bytes]), dst(new char[bytes]);
  std::memset(src.get(), 0x5a, bytes);
  std::memset(dst.get(), 0, bytes);
  double best = 1e300;
  for (int i = 0; i < 5; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    std::memcpy(dst.get(), src.get(), bytes);
    benchmark::DoNotOptimize(dst.get());
    benchmark::ClobberMemory();
    auto t1 = std::chrono::steady_clock::now();
    best = std::min(best, std::chrono::duration<double, std::nano>(t1 - t0).count());
  }
  return best;
}

// `op_ns`: summed wall time of the measured calls alone (the decode check
// and the framework's bookkeeping excluded).
void SetCounters(benchmark::State& state, double op_ns, uint64_t folios, size_t blob_bytes) {
  const double ns_per_iter = op_ns / static_cast<double>(state.iterations());
  state.counters["ns_per_folio"] = ns_per_iter / static_cast<double>(folios);
  state.counters["vs_memcpy"] = ns_per_iter / MemcpyNs(blob_bytes);
  state.counters["blob_bytes_per_folio"] =
      static_cast<double>(blob_bytes) / static_cast<double>(folios);
  state.counters["blob_MiB"] = static_cast<double>(blob_bytes) / (1 << 20);
  state.counters["folios"] = static_cast<double>(folios);
}

double ElapsedNs(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - since).count();
}

// `threads`: CodecOptions::threads (0: every CPU of the affinity mask).
void BM_Encode(benchmark::State& state, Shape shape, BlobFormat format, int threads) {
  const Snapshot& snap = SnapshotFor(shape);
  size_t blob_bytes = 0;
  double op_ns = 0;
  for (auto _ : state) {
    std::string out;
    const auto t0 = std::chrono::steady_clock::now();
    Status st = Encode(snap, format, &out, CodecOptions{threads});
    op_ns += ElapsedNs(t0);
    if (!st.ok()) {
      state.SkipWithError(st.ToString().c_str());
      return;
    }
    blob_bytes = out.size();
    benchmark::DoNotOptimize(out.data());
  }
  SetCounters(state, op_ns, TotalFolios(snap), blob_bytes);
  state.counters["threads"] = ThreadsToUse(threads);
}

// `recorded`: checked against a record's XXH3 of the blob instead of its
// own checksum (CodecOptions::recorded_xxh3), as the new khod's read-ahead
// decodes a handover.
void BM_Decode(benchmark::State& state, Shape shape, BlobFormat format, int threads,
               bool recorded = false) {
  const Snapshot& snap = SnapshotFor(shape);
  std::string blob;
  Status st = Encode(snap, format, &blob);
  if (!st.ok()) {
    state.SkipWithError(st.ToString().c_str());
    return;
  }
  CodecOptions opts(threads);
  if (recorded) opts.recorded_xxh3 = Xxh3(blob.data(), blob.size());
  bool checked = false;
  double op_ns = 0;
  for (auto _ : state) {
    Snapshot out;
    const auto t0 = std::chrono::steady_clock::now();
    st = format == BlobFormat::kFdt ? DecodeFdt(blob, &out, opts) : DecodeProto(blob, &out, opts);
    op_ns += ElapsedNs(t0);
    if (!st.ok()) {
      state.SkipWithError(st.ToString().c_str());
      return;
    }
    if (!checked) {  // a decoder that drops content would be fast for nothing
      state.PauseTiming();
      if (out != snap) {
        state.SkipWithError("decoded snapshot differs from the encoded one");
        return;
      }
      checked = true;
      state.ResumeTiming();
    }
    benchmark::DoNotOptimize(out.gmems.data());
  }
  SetCounters(state, op_ns, TotalFolios(snap), blob.size());
  state.counters["threads"] = ThreadsToUse(threads);
}

// How long the synthesizer takes for the 1 TiB guest (it must not be the bottleneck).
void BM_Synthesize1TiB(benchmark::State& state) {
  for (auto _ : state) {
    Result<Snapshot> s = Synthesize(ParamsFor(Shape::kRuns214));
    benchmark::DoNotOptimize(s.ok());
  }
}

}  // namespace

// One encode or decode case, timed in milliseconds of wall time.
#define KHOD_BENCH_CASE(fn, name, ...) \
  BENCHMARK_CAPTURE(fn, name, __VA_ARGS__)->Unit(benchmark::kMillisecond)->UseRealTime()

// Each shape's FDT on one thread and on every CPU (its folio table's chunks
// shared out), and its proto (one thread, whatever it is given).
#define KHOD_BENCH_SHAPE(name, shape)                                          \
  KHOD_BENCH_CASE(BM_Encode, name##_fdt, shape, BlobFormat::kFdt, 1);          \
  KHOD_BENCH_CASE(BM_Decode, name##_fdt, shape, BlobFormat::kFdt, 1);          \
  KHOD_BENCH_CASE(BM_Encode, name##_fdt_all_cpus, shape, BlobFormat::kFdt, 0); \
  KHOD_BENCH_CASE(BM_Decode, name##_fdt_all_cpus, shape, BlobFormat::kFdt, 0); \
  KHOD_BENCH_CASE(BM_Encode, name##_proto, shape, BlobFormat::kProto, 1);      \
  KHOD_BENCH_CASE(BM_Decode, name##_proto, shape, BlobFormat::kProto, 1)

KHOD_BENCH_SHAPE(a_4k_runs214, Shape::kRuns214);
KHOD_BENCH_SHAPE(b_1g_shared10k, Shape::kHuge1gShared10k);
KHOD_BENCH_SHAPE(c_4k_scattered, Shape::kScattered);
KHOD_BENCH_SHAPE(d_one_guest_2g, Shape::kOneGuest2g);
KHOD_BENCH_SHAPE(e_100_gmems_2g, Shape::kManyGmems2g);

// The new khod's read-ahead: the record's XXH3 beside the decode, no FDT checksum.
#define KHOD_BENCH_RECORDED(name, shape)                                             \
  KHOD_BENCH_CASE(BM_Decode, name##_fdt_recorded, shape, BlobFormat::kFdt, 1, true); \
  KHOD_BENCH_CASE(BM_Decode, name##_fdt_all_cpus_recorded, shape, BlobFormat::kFdt, 0, true)

KHOD_BENCH_RECORDED(a_4k_runs214, Shape::kRuns214);
KHOD_BENCH_RECORDED(c_4k_scattered, Shape::kScattered);
BENCHMARK(BM_Synthesize1TiB)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace khod
