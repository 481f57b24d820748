// capture_bench: capture of a populated 1 GiB and 4 GiB file against the floor,
// a bare read of pagemap + kpageflags of the same range (one pread per window
// of pagemap, one per PFN run of kpageflags), in the same run. Target: the
// steady-state capture costs at most 1.25x the floor.
//
// The file is a guest_memfd (MMAP|INIT_SHARED) where the kernel makes one, else
// a shmem memfd; the output says which and why. Each file is populated once per run
// (first touch is slow). Needs root (PFNs). Run from bazel-bin, not bazel run:
//   bazel build -c opt //bench:capture_bench && bazel-bin/bench/capture_bench
//     [--threads N] [--shmem]
// --threads: the capture threads khod's source uses (default: the CPUs of the
// affinity mask); --shmem: a shmem memfd even where /dev/kvm exists (memory
// that can move: every capture takes the full check).
#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "bench/process_memory.h"
#include "capture/change_scan.h"
#include "capture/kernel_source.h"
#include "common/numbers.h"
#include "common/thread_shares.h"
#include "kernel/kvm.h"
#include "kernel/kvm_uapi.h"
#include "kernel/pagemap.h"

namespace khod {
namespace {

constexpr uint64_t kPage = 4096;
constexpr uint64_t kWindow = 64 * 1024;
constexpr int kRepeats = 15;

double Ms(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

// Medians of a and b, timed alternately so that both see the same machine
// load (the build machine is shared) and the same cache state.
template <typename A, typename B>
std::pair<double, double> AlternatingMediansMs(A&& a, B&& b) {
  std::vector<double> ta, tb;
  for (int i = 0; i < kRepeats; ++i) {
    auto s = std::chrono::steady_clock::now();
    a();
    ta.push_back(Ms(std::chrono::steady_clock::now() - s));
    s = std::chrono::steady_clock::now();
    b();
    tb.push_back(Ms(std::chrono::steady_clock::now() - s));
  }
  std::sort(ta.begin(), ta.end());
  std::sort(tb.begin(), tb.end());
  return {ta[ta.size() / 2], tb[tb.size() / 2]};
}

// The floor: what any capture must read, and nothing else.
uint64_t BareRead(const PageFrameReader& r, const uint8_t* map, uint64_t pages) {
  std::vector<uint64_t> pm(kWindow), kpf;
  uint64_t runs = 0;
  for (uint64_t first = 0; first < pages; first += kWindow) {
    const uint64_t n = std::min(kWindow, pages - first);
    if (!r.ReadPagemap(map + first * kPage, n, pm.data()).ok()) return 0;
    for (uint64_t i = 0; i < n;) {
      if (!PagemapPresent(pm[i])) {
        ++i;
        continue;
      }
      const uint64_t pfn = PagemapPfn(pm[i]);
      uint64_t j = i + 1;
      while (j < n && PagemapPresent(pm[j]) && PagemapPfn(pm[j]) == pfn + (j - i)) ++j;
      kpf.resize(j - i);
      if (!r.ReadKpageflags(pfn, j - i, kpf.data()).ok()) return 0;
      ++runs;
      i = j;
    }
  }
  return runs;
}

int Run(int threads, bool shmem) {
  auto reader = PageFrameReader::Open();
  if (!reader.ok() || !reader->kpageflags_readable()) {
    std::fprintf(stderr, "capture_bench: needs root (PFNs and /proc/kpageflags)\n");
    return 2;
  }
  std::optional<Kvm> kvm;
  std::optional<KvmVm> vm;
  std::string why_shmem = "--shmem";
  if (auto k = Kvm::Open(); !k.ok()) {
    why_shmem = k.status().message();
  } else if (!shmem) {
    kvm.emplace(std::move(*k));
    auto v =
        kvm->CreateVmForGuestMemfd(uapi::kGuestMemfdFlagMmap | uapi::kGuestMemfdFlagInitShared);
    if (v.ok())
      vm.emplace(std::move(*v));
    else
      why_shmem = v.status().message();
  }
  std::printf("capture threads: %s\n",
              threads > 0 ? std::to_string(threads).c_str() : "affinity CPUs");
  std::printf("file kind: %s\n",
              vm ? "guest_memfd (MMAP|INIT_SHARED)" : ("shmem memfd (" + why_shmem + ")").c_str());
  std::printf("%-6s %10s %10s %12s %12s %8s %10s\n", "size", "populate", "1st capt", "capture ms",
              "floor ms", "ratio", "extents");
  for (uint64_t gib : {1, 4}) {
    const uint64_t size = gib << 30, pages = size / kPage;
    UniqueFd fd;
    if (vm) {
      auto g =
          vm->CreateGuestMemfd(size, uapi::kGuestMemfdFlagMmap | uapi::kGuestMemfdFlagInitShared);
      if (!g.ok()) {
        std::fprintf(stderr, "%s\n", g.status().ToString().c_str());
        return 2;
      }
      fd = std::move(*g);
    } else {
      fd = UniqueFd(::memfd_create("bench", MFD_CLOEXEC));
      if (::ftruncate(fd.get(), static_cast<off_t>(size)) < 0) return 2;
    }
    auto* map = static_cast<uint8_t*>(
        ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0));
    if (map == MAP_FAILED) return 2;
    auto t0 = std::chrono::steady_clock::now();
    if (::madvise(map, size, MADV_POPULATE_WRITE) < 0) {
      std::perror("populate");
      return 2;
    }
    const double populate_ms = Ms(std::chrono::steady_clock::now() - t0);

    KernelSourceOptions o;
    o.capture_threads = threads;
    o.declared_gmem_flags = uapi::kGuestMemfdFlagMmap | uapi::kGuestMemfdFlagInitShared;
    auto src = KernelGmemSource::FromFd(UniqueFd(::dup(fd.get())), o);
    if (!src.ok()) {
      std::printf("source: %s\n", src.status().ToString().c_str());
      return 2;
    }
    GuestMemfd g;
    t0 = std::chrono::steady_clock::now();
    const Status first = (*src)->Capture({}, &g);  // maps its window: populate of its own PTEs
    if (!first.ok()) {
      std::printf("first capture: %s\n", first.ToString().c_str());
      return 2;
    }
    const double first_ms = Ms(std::chrono::steady_clock::now() - t0);

    uint64_t runs = 0;
    const auto [floor_ms, capture_ms] = AlternatingMediansMs(
        [&] { runs = BareRead(*reader, map, pages); }, [&] { (void)(*src)->Capture({}, &g); });
    std::printf("%-6s %8.0fms %8.1fms %12.1f %12.1f %8.2f %10zu  (%llu PFN runs)\n",
                (std::to_string(gib) + "G").c_str(), populate_ms, first_ms, capture_ms, floor_ms,
                capture_ms / floor_ms, g.folios.size(), static_cast<unsigned long long>(runs));
    // Memory that cannot move (guest_memfd) is captured again by its change
    // scan, not by a full read: the ratio is then not like for like.
    const std::string how = (*src)->changes_only()
                                ? "the change scan against the last capture (" +
                                      std::to_string((*src)->pages_rescanned()) +
                                      " pages rescanned), not a full read like the floor's"
                                : "the full check (" + (*src)->changes_note() + ")";
    std::printf("       steady-state capture: %s\n", how.c_str());
    // Freeze's and Verify's per-GiB part for guest_memfd: the page-table walk
    // (PAGEMAP_SCAN) on one thread and in shares on every CPU khod may use.
    const int cpus = ThreadsToUse(threads);
    const uint64_t at = reinterpret_cast<uint64_t>(map);
    const auto [walk_1, walk_n] = AlternatingMediansMs(
        [&] { (void)NonPresentPagesInShares(reader->pagemap_fd(), at, pages, 1); },
        [&] { (void)NonPresentPagesInShares(reader->pagemap_fd(), at, pages, cpus); });
    std::printf(
        "%-6s page-table walk (PAGEMAP_SCAN): %.2f ms on 1 thread, %.2f ms on %d = "
        "%.3f ms per GiB per core\n",
        (std::to_string(gib) + "G").c_str(), walk_1, walk_n, cpus,
        walk_n * cpus / static_cast<double>(gib));
    // khod's own memory for this file: anonymous RSS (its extents, windows
    // and buffers; the guest's pages are file pages, not counted there).
    std::printf("%-6s anonymous RSS after the captures: %.1f MiB for %zu extents\n",
                (std::to_string(gib) + "G").c_str(), RssAnonKb() / 1024.0, g.folios.size());
    ::munmap(map, size);
  }
  return 0;
}

}  // namespace
}  // namespace khod

int main(int argc, char** argv) {
  int threads = 0;
  bool shmem = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    std::optional<int> n;
    if (a == "--threads" && i + 1 < argc && (n = khod::ParseInt(argv[++i])) && *n >= 0) {
      threads = *n;
    } else if (a == "--shmem") {
      shmem = true;
    } else {
      std::fprintf(stderr, "usage: capture_bench [--threads N] [--shmem]\n");
      return 2;
    }
  }
  return khod::Run(threads, shmem);
}
