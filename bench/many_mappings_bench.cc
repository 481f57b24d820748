// many_mappings_bench: what ProcessMappingsCache::Get costs khod for a VMM
// that maps another file many times, the cheapest way an unprivileged VMM has
// to make its /proc/PID/maps and numa_maps huge (each line names the file's
// path: a one-page mapping of a file whose path is 4 KiB long prints 4 KiB).
// A child maps a deleted regular file of a long path `--mappings` times (one
// page each, the same page, so no two merge) and a shmem memfd once, and
// Get asks it, through a fresh cache each time as a capture round does:
//   unmapped      a memfd it does not map (a guest_memfd its VMM does not map)
//   unmapped-own  the same, asked as a file whose own inode maps names
//                 (FileNaming::kItsOwnInode: memfds, hugetlbfs, guest_memfd)
//   mapped        the memfd it maps, whose policy its file decides (shmem's
//                 get_policy: maps, the VMAs and numa_maps are read)
// each with the BPF VMA iterator and without it (numa_maps only). Prints
// the texts' sizes, and per case the time, this process's peak RSS above
// what it held before (VmHWM, reset through clear_refs; each case runs in a
// process of its own) and the cache's counters. Run the -c opt build as root; leaves no file
// behind.
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bench/ready_child.h"
#include "kernel/file_mappings.h"
#include "kernel/proc_status.h"
#include "kernel/vma_policy_iter.h"

namespace khod {
namespace {

constexpr uint64_t kPage = 4096;

uint64_t StatusKb(const char* key) {
  Result<uint64_t> kb = ProcStatusNumber(0, key);
  return kb.ok() ? *kb : 0;
}

// Bytes of /proc/PID/NAME, read and dropped.
uint64_t TextBytes(pid_t pid, const char* name) {
  const std::string path = "/proc/" + std::to_string(pid) + "/" + name;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  static char buf[1 << 16];
  uint64_t total = 0;
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) total += static_cast<uint64_t>(n);
  ::close(fd);
  return total;
}

FileKey KeyOf(int fd) {
  struct stat st;
  return ::fstat(fd, &st) == 0 ? FileKey{st.st_dev, st.st_ino} : FileKey{};
}

// An open, already deleted regular file whose path (its directories removed
// too) is about `path_bytes` long, as maps still prints it; -1 on failure.
int DeletedFileOfLongPath(size_t path_bytes) {
  char base[] = "/var/tmp/khod-many-mappings-bench.XXXXXX";
  if (!::mkdtemp(base)) return -1;
  const std::string component(250, 'd');
  std::vector<int> dirs{::open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  size_t length = std::strlen(base);
  while (dirs.back() >= 0 && length + component.size() + 3 < path_bytes) {
    if (::mkdirat(dirs.back(), component.c_str(), 0700) != 0) break;
    dirs.push_back(::openat(dirs.back(), component.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    length += component.size() + 1;
  }
  int fd = -1;
  if (dirs.back() >= 0) {
    fd = ::openat(dirs.back(), "f", O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    ::unlinkat(dirs.back(), "f", 0);
    if (fd >= 0 && ::ftruncate(fd, kPage) != 0) {
      ::close(fd);
      fd = -1;
    }
  }
  for (size_t i = dirs.size(); i-- > 1;) {
    if (dirs[i] >= 0) ::close(dirs[i]);
    ::unlinkat(dirs[i - 1], component.c_str(), AT_REMOVEDIR);
  }
  if (dirs[0] >= 0) ::close(dirs[0]);
  ::rmdir(base);
  return fd;
}

int Memfd(const char* name) {
  const int fd = static_cast<int>(::syscall(SYS_memfd_create, name, MFD_CLOEXEC));
  if (fd >= 0 && ::ftruncate(fd, kPage) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

struct Case {
  const char* name;
  FileKey key;
  bool own_inode;
  bool iterator;
};

// One case, in a process of its own (forked, its free memory given back
// first): its peak is its own, not what an earlier case left in the heap.
void Run(pid_t child, const Case& c, const VmaPolicyReader* reader) {
  if (c.iterator && !reader) {
    std::printf("%-14s %-9s skipped: no VMA policy iterator\n", c.name, "iterator");
    return;
  }
  std::fflush(stdout);
  const pid_t measuring = ::fork();
  if (measuring < 0) return;
  if (measuring > 0) {
    ::waitpid(measuring, nullptr, 0);
    return;
  }
  ::malloc_trim(0);
  const uint64_t before_kb = StatusKb("VmRSS:");
  const int clear = ::open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
  if (clear >= 0) {
    (void)!::write(clear, "5", 1);  // VmHWM := VmRSS
    ::close(clear);
  }
  ProcessMappingsCache cache(c.iterator ? reader : nullptr);
  const auto t0 = std::chrono::steady_clock::now();
  Result<std::vector<FileMapping>> got = cache.Get(
      child, c.key, kPage, c.own_inode ? FileNaming::kItsOwnInode : FileNaming::kMaybeAnotherInode);
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  const uint64_t peak_kb = StatusKb("VmHWM:");
  std::printf(
      "%-14s %-9s %9.1f ms  peak +%7.1f MiB  maps reads %d  numa_maps %d  "
      "iterator %d  largest text held %llu B  -> %s\n",
      c.name, c.iterator ? "iterator" : "numa_maps", ms,
      (peak_kb > before_kb ? peak_kb - before_kb : 0) / 1024.0, cache.reads(), cache.numa_reads(),
      cache.iterator_reads(), static_cast<unsigned long long>(cache.largest_text_held()),
      got.ok() ? (std::to_string(got->size()) + " mapping(s)").c_str()
               : got.status().ToString().c_str());
  std::fflush(stdout);
  ::_exit(0);
}

int Main(int argc, char** argv) {
  int mappings = 65000;
  size_t path_bytes = 4000;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--mappings") == 0) mappings = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--path-bytes") == 0) path_bytes = std::strtoul(argv[i + 1], 0, 10);
  }
  const int junk = DeletedFileOfLongPath(path_bytes);
  const int mapped = Memfd("many-mappings-bench-mapped");
  const int unmapped = Memfd("many-mappings-bench-unmapped");
  if (junk < 0 || mapped < 0 || unmapped < 0) {
    std::fprintf(stderr, "cannot make the files: %s\n", std::strerror(errno));
    return 1;
  }
  const pid_t child = ForkReadyChild([&] {
    for (int i = 0; i < mappings; ++i)
      if (::mmap(nullptr, kPage, PROT_READ, MAP_SHARED, junk, 0) == MAP_FAILED) return false;
    return ::mmap(nullptr, kPage, PROT_READ, MAP_SHARED, mapped, 0) != MAP_FAILED;
  });
  if (child < 0) {
    std::fprintf(stderr, "the child could not map the file %d times (vm.max_map_count?)\n",
                 mappings);
    return 1;
  }
  // The floor: the kernel's writing of each text, read and dropped.
  const auto t0 = std::chrono::steady_clock::now();
  const uint64_t maps_bytes = TextBytes(child, "maps");
  const auto t1 = std::chrono::steady_clock::now();
  const uint64_t numa_bytes = TextBytes(child, "numa_maps");
  const auto t2 = std::chrono::steady_clock::now();
  using Ms = std::chrono::duration<double, std::milli>;
  std::printf(
      "mappings %d of a file of a %zu-byte path; maps %llu B (read alone %.1f ms), "
      "numa_maps %llu B (%.1f ms)\n",
      mappings, path_bytes, static_cast<unsigned long long>(maps_bytes), Ms(t1 - t0).count(),
      static_cast<unsigned long long>(numa_bytes), Ms(t2 - t1).count());
  std::string why_not;
  const VmaPolicyReader* reader = SharedVmaPolicyIterator(&why_not);
  if (!reader) std::printf("no VMA policy iterator: %s\n", why_not.c_str());
  const Case cases[] = {
      {"unmapped", KeyOf(unmapped), false, true}, {"unmapped-own", KeyOf(unmapped), true, true},
      {"mapped", KeyOf(mapped), false, true},     {"unmapped", KeyOf(unmapped), false, false},
      {"mapped", KeyOf(mapped), false, false},
  };
  for (const Case& c : cases) Run(child, c, reader);
  KillReadyChild(child);
  return 0;
}

}  // namespace
}  // namespace khod

int main(int argc, char** argv) { return khod::Main(argc, argv); }
