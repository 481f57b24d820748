// shared_policy_bench: what reading the shared NUMA policies of khod's own shmem files costs a
// capture round (kernel/shared_policy_iter.h: one BPF task_file read of every fd, taken when a
// second read agrees), by how many memfds this process holds open, each mbound whole to one
// policy (one range in its tree). Counters: files. Build with -c opt and run from bazel-bin, as
// root (the program needs CAP_BPF and CAP_PERFMON).
#include <benchmark/benchmark.h>
#include <linux/mempolicy.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "common/unique_fd.h"
#include "kernel/shared_policy_cache.h"
#include "kernel/shared_policy_iter.h"

namespace khod {
namespace {

constexpr size_t kFileBytes = 16 * 4096;

// `n` memfds, each mbound whole to interleave over node 0, kept for the run.
const std::vector<UniqueFd>& Files(size_t n) {
  static std::vector<UniqueFd> files;
  while (files.size() < n) {
    UniqueFd fd(::memfd_create("khod-shared-policy-bench", MFD_CLOEXEC));
    if (!fd.valid() || ::ftruncate(fd.get(), kFileBytes) != 0) std::abort();
    void* m = ::mmap(nullptr, kFileBytes, PROT_NONE, MAP_SHARED, fd.get(), 0);
    unsigned long node0 = 1;
    if (m == MAP_FAILED || ::syscall(SYS_mbind, m, kFileBytes, MPOL_INTERLEAVE, &node0, 2, 0) != 0)
      std::abort();
    ::munmap(m, kFileBytes);
    files.push_back(std::move(fd));
  }
  return files;
}

void BM_ReadOwnFiles(benchmark::State& state) {
  std::string why;
  const SharedPolicyIterator* it = LoadedSharedPolicyIterator(&why);
  if (it == nullptr) {
    state.SkipWithError(("the program cannot load: " + why).c_str());
    return;
  }
  const size_t n = static_cast<size_t>(state.range(0));
  Files(n);
  for (auto _ : state) {
    Result<std::vector<SharedPolicyTree>> trees = it->Read(::getpid());
    if (!trees.ok() || trees->size() < n) {
      state.SkipWithError(trees.ok() ? "a file is missing" : trees.status().ToString().c_str());
      return;
    }
    benchmark::DoNotOptimize(trees->data());
  }
  state.counters["files"] = static_cast<double>(n);
}
BENCHMARK(BM_ReadOwnFiles)->Arg(1)->Arg(100)->Arg(1000)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace khod
