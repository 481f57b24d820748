#include "kernel/pagemap.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <mutex>

namespace khod {

Result<PageFrameReader> PageFrameReader::Open() {
  int pm = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (pm < 0) return Status::FromErrno("open /proc/self/pagemap", errno);
  int kf = ::open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);  // -1 when not root: allowed
  return PageFrameReader(UniqueFd(pm), UniqueFd(kf));
}

Result<const PageFrameReader*> PageFrameReader::Shared() {
  static std::mutex mu;
  // Never destroyed: captures may run while the process exits.
  static const PageFrameReader* shared = nullptr;
  static pid_t opened_by = 0;
  std::lock_guard<std::mutex> l(mu);
  if (!shared || opened_by != ::getpid()) {
    Result<PageFrameReader> r = Open();
    if (!r.ok()) return r.status();
    shared = new PageFrameReader(std::move(*r));
    opened_by = ::getpid();
  }
  return shared;
}

Status PreadAll(int fd, void* buf, size_t bytes, uint64_t offset, const char* what) {
  auto* p = static_cast<uint8_t*>(buf);
  while (bytes > 0) {
    ssize_t n = ::pread(fd, p, bytes, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(std::string("pread ") + what + " at " + std::to_string(offset),
                               errno);
    }
    if (n == 0) return Status::IoError(std::string("short read of ") + what);
    p += n;
    bytes -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return Status::Ok();
}

Status PageFrameReader::ReadPagemap(const void* addr, size_t npages, uint64_t* out) const {
  const uint64_t vpn = reinterpret_cast<uintptr_t>(addr) / static_cast<uint64_t>(getpagesize());
  return PreadAll(pagemap_.get(), out, npages * sizeof(uint64_t), vpn * sizeof(uint64_t),
                  "/proc/self/pagemap");
}

Status PageFrameReader::ReadKpageflags(uint64_t pfn, size_t count, uint64_t* out) const {
  if (!kpageflags_.valid())
    return Status::PermissionDenied("/proc/kpageflags is not readable (needs root)");
  return PreadAll(kpageflags_.get(), out, count * sizeof(uint64_t), pfn * sizeof(uint64_t),
                  "/proc/kpageflags");
}

}  // namespace khod
