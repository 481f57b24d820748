// vma_policy_bench: what reading a VMM's mapping policies costs Freeze on a
// kernel where guest_memfd keeps no shared policy (Linux 6.18), by source:
//   numa_maps  /proc/PID/numa_maps, whose read walks every mapped page
//   iterator   the BPF VMA iterator (kernel/vma_policy_iter.h): no walk
// Each reads a child process that maps a file of N GiB with every page
// present, split by mbind into several policies, through
// ProcessMappingsCache::Get as a capture round does. The file is a stand-in,
// never a guest_memfd (each result's label says so): a private mapping of a
// regular file, whose VMAs keep their policies in vm_policy as a guest_memfd
// mapping's do on 6.18 (that one is MAP_SHARED, and its pages the file's).
// Counters: gib (mapped), mappings (of the file). Build with -c opt and run
// from bazel-bin, as root (pagemap-free, but the iterator needs CAP_BPF and
// CAP_PERFMON).
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <linux/mempolicy.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>

#include "bench/ready_child.h"
#include "kernel/file_mappings.h"
#include "kernel/proc_maps.h"
#include "kernel/vma_policy_iter.h"

namespace khod {
namespace {

constexpr uint64_t kPage = 4096;

struct MappedChild {
  pid_t pid = -1;
  FileKey key;
  int mappings = 0;
};

std::map<int, MappedChild>& Children() {
  static std::map<int, MappedChild> children;
  return children;
}

void KillChildren() {
  for (auto& [gib, c] : Children()) KillReadyChild(c.pid);
}

// A child mapping `gib` GiB of a regular file, every page written, in four
// mbind ranges of three policies and one without; kept for the whole run.
const MappedChild* ChildMapping(int gib) {
  MappedChild& c = Children()[gib];
  if (c.pid > 0) return &c;
  char path[] = "/var/tmp/khod-vma-policy-bench.XXXXXX";
  const int fd = ::mkstemp(path);
  if (fd < 0) return nullptr;
  ::unlink(path);
  const uint64_t bytes = static_cast<uint64_t>(gib) << 30;
  struct stat st;
  if (::ftruncate(fd, static_cast<off_t>(bytes)) != 0 || ::fstat(fd, &st) != 0) return nullptr;
  const pid_t pid = ForkReadyChild([&] {
    auto* m = static_cast<char*>(
        ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_POPULATE, fd, 0));
    if (m == MAP_FAILED) return false;
    unsigned long node0 = 1;
    const uint64_t quarter = bytes / 4;
    const int modes[] = {MPOL_INTERLEAVE, MPOL_BIND, MPOL_PREFERRED};
    for (int i = 0; i < 3; ++i)
      if (::syscall(SYS_mbind, m + i * quarter, quarter, modes[i], &node0, 2, 0) != 0) return false;
    for (uint64_t off = 0; off < bytes; off += kPage) m[off] = 1;
    return true;
  });
  ::close(fd);
  if (pid < 0) return nullptr;
  c.pid = pid;
  c.key = FileKey{st.st_dev, st.st_ino};
  c.mappings = 4;
  static const bool registered = std::atexit(KillChildren) == 0;
  (void)registered;
  return &c;
}

void BM_MappingPolicies(benchmark::State& state, bool iterator) {
  const int gib = static_cast<int>(state.range(0));
  const MappedChild* child = ChildMapping(gib);
  if (!child) {
    state.SkipWithError("cannot start the child mapping the file");
    return;
  }
  std::string why_not;
  const VmaPolicyIterator* reader = iterator ? SharedVmaPolicyIterator(&why_not) : nullptr;
  if (iterator && !reader) {
    state.SkipWithError(("no VMA policy iterator: " + why_not).c_str());
    return;
  }
  for (auto _ : state) {
    ProcessMappingsCache cache(reader);  // a capture round's, read once
    Result<std::vector<FileMapping>> got = cache.Get(child->pid, child->key, kPage);
    if (!got.ok() || static_cast<int>(got->size()) != child->mappings) {
      state.SkipWithError(got.ok() ? "not every mapping was read"
                                   : got.status().ToString().c_str());
      return;
    }
    if (iterator != (cache.iterator_reads() == 1)) {
      state.SkipWithError("the policies did not come from the source measured");
      return;
    }
  }
  state.counters["gib"] = gib;
  state.counters["mappings"] = child->mappings;
  // What was read: never a guest_memfd (this bench maps no VM's memory).
  state.SetLabel("stand-in: a regular file mapped privately, policies in its VMAs");
}

// The two reads a Get can make, each alone: the iterator's read of the VMAs (link,
// iterator, records, decode), which alone answers where every mapping of the file has its
// policy in its VMA, and the maps text, read besides where one does not or the iterator
// cannot be used.
void BM_OneRead(benchmark::State& state, bool iterator) {
  const MappedChild* child = ChildMapping(1);
  if (!child) {
    state.SkipWithError("cannot start the child mapping the file");
    return;
  }
  std::string why_not;
  const VmaPolicyIterator* reader = SharedVmaPolicyIterator(&why_not);
  if (iterator && !reader) {
    state.SkipWithError(("no VMA policy iterator: " + why_not).c_str());
    return;
  }
  for (auto _ : state) {
    const bool ok =
        iterator ? reader->Read(child->pid).ok() : ReadProcMapsText(child->pid, "maps").ok();
    if (!ok) {
      state.SkipWithError("the read failed");
      return;
    }
  }
}

BENCHMARK_CAPTURE(BM_OneRead, maps_text, false)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_OneRead, iterator_read, true)->Unit(benchmark::kMicrosecond)->UseRealTime();

BENCHMARK_CAPTURE(BM_MappingPolicies, numa_maps, false)
    ->RangeMultiplier(2)
    ->Range(1, 8)  // GiB mapped: 1, 2, 4, 8
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_MappingPolicies, iterator, true)
    ->RangeMultiplier(2)
    ->Range(1, 8)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace khod
