// exec_handover_fds_bench: what the descriptors a reexec hands on cost the exec and the new
// khod's start, by count. A process opens N descriptors and execs this program again, which
// reports how long the exec took (CLOCK_MONOTONIC keeps counting across it) and how long
// its first listing of /proc/self/fd took. Two kinds of descriptor:
//   rings: page-pin rings (kernel/page_pin.h) over a 1 MiB shmem memfd each, close-on-exec
//          cleared, as --page-pins hands them on (the pinned shmem stand-in only: a
//          guest_memfd cannot move and has none);
//   files: /dev/null, as many as the guest files --adopt hands on.
// Prints the median of --runs per count. Needs root only where RLIMIT_MEMLOCK is small.
// Build with -c opt and run bazel-bin/bench/exec_handover_fds_bench directly.
#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench/median.h"
#include "common/flags.h"
#include "common/numbers.h"
#include "kernel/page_pin.h"

namespace khod {
namespace {

constexpr uint64_t kPage = 4096;
constexpr uint64_t kRingBytes = 1 << 20;

double NowMs() {
  timespec t;
  ::clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec) / 1e6;
}

// The program the exec started: "<exec ms> <listing ms>" on stdout.
int AfterExec(const char* exec_started_ms) {
  const double entered = NowMs();
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) return 1;
  while (::readdir(d) != nullptr) {
  }
  ::closedir(d);
  const double listed = NowMs();
  std::printf("%.3f %.3f\n", entered - std::atof(exec_started_ms), listed - entered);
  return 0;
}

// Opens `count` descriptors of `kind` that stay open across an exec. Rings are returned in
// `pins` (their memfds are closed: the ring keeps the pages).
bool OpenKept(const std::string& kind, int count, std::vector<PagePin>* pins) {
  for (int i = 0; i < count; ++i) {
    if (kind == "files") {
      if (::open("/dev/null", O_RDONLY) < 0) return false;
      continue;
    }
    const int memfd = ::memfd_create("exec_handover_fds_bench", MFD_CLOEXEC);
    if (memfd < 0 || ::ftruncate(memfd, kRingBytes) != 0) return false;
    Result<PagePin> pin = PagePin::Pin(memfd, kRingBytes, {PageSpan{0, kRingBytes / kPage}}, kPage);
    ::close(memfd);
    if (!pin.ok()) {
      std::fprintf(stderr, "pin: %s\n", pin.status().ToString().c_str());
      return false;
    }
    for (int fd : pin->ring_fds()) ::fcntl(fd, F_SETFD, 0);
    pins->push_back(std::move(*pin));
  }
  return true;
}

// One measurement in a child: {exec ms, listing ms}, or {-1, -1}.
std::pair<double, double> Measure(const std::string& kind, int count) {
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return {-1, -1};
  const pid_t child = ::fork();
  if (child == 0) {
    std::vector<PagePin> pins;
    if (!OpenKept(kind, count, &pins)) ::_exit(3);
    ::dup2(out[1], STDOUT_FILENO);
    char started[64];
    std::snprintf(started, sizeof(started), "%.6f", NowMs());
    ::execl("/proc/self/exe", "exec_handover_fds_bench", "--after-exec", started,
            static_cast<char*>(nullptr));
    ::_exit(4);
  }
  ::close(out[1]);
  char buf[128] = {0};
  const ssize_t n = ::read(out[0], buf, sizeof(buf) - 1);
  ::close(out[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  double exec_ms = -1, list_ms = -1;
  if (n <= 0 || std::sscanf(buf, "%lf %lf", &exec_ms, &list_ms) != 2) return {-1, -1};
  return {exec_ms, list_ms};
}

int Main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--after-exec") return AfterExec(argv[2]);
  int exit_code = 0;
  const std::optional<ParsedFlags> flags = ParseCommandLine(
      argc, argv, "usage: exec_handover_fds_bench [--counts 2,100,300] [--runs 7]\n",
      {{"--counts", true, nullptr, "N,N,...  descriptors kept across the exec (default 2,100,300)"},
       {"--runs", true, nullptr, "R  measurements per case, the median printed (default 7)"}},
      &exit_code);
  if (!flags) return exit_code;
  const Result<uint64_t> runs = flags->GetUint("--runs", 7);
  if (!runs.ok() || *runs == 0) {
    std::fprintf(stderr, "exec_handover_fds_bench: --runs wants a positive number\n");
    return 2;
  }
  const Result<std::vector<uint64_t>> listed =
      ParseU64ListNamed(flags->Get("--counts", "2,100,300"), "--counts item", 0, 100000);
  if (!listed.ok()) {
    std::fprintf(stderr, "exec_handover_fds_bench: %s\n", listed.status().message().c_str());
    return 2;
  }
  const std::vector<int> counts(listed->begin(), listed->end());
  std::printf("%-6s %8s %12s %22s\n", "kind", "count", "exec ms", "first /proc/self/fd ms");
  for (const char* kind : {"rings", "files"}) {
    for (int count : counts) {
      std::vector<double> exec_ms, list_ms;
      for (uint64_t r = 0; r < *runs; ++r) {
        const auto [e, l] = Measure(kind, count);
        if (e < 0) {
          std::fprintf(stderr, "exec_handover_fds_bench: %s x%d failed\n", kind, count);
          return 1;
        }
        exec_ms.push_back(e);
        list_ms.push_back(l);
      }
      std::printf("%-6s %8d %12.3f %22.3f\n", kind, count, Median(exec_ms), Median(list_ms));
    }
  }
  return 0;
}

}  // namespace
}  // namespace khod

int main(int argc, char** argv) { return khod::Main(argc, argv); }
