#include "kernel/residency.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

namespace khod {

Status Mincore(const void* addr, size_t npages, uint8_t* out) {
  const size_t bytes = npages * static_cast<size_t>(getpagesize());
  if (::mincore(const_cast<void*>(addr), bytes, out) < 0) return Status::FromErrno("mincore", errno);
  return Status::Ok();
}

Status PopulateRead(void* addr, size_t bytes) {
  while (::madvise(addr, bytes, MADV_POPULATE_READ) < 0) {
    if (errno == EINTR) continue;
    if (errno == EFAULT)
      return Status::FailedPrecondition("populate would fault (private page or hole)");
    return Status::FromErrno("madvise(MADV_POPULATE_READ)", errno);
  }
  return Status::Ok();
}

Result<PopulateGuard> PopulateGuard::Register(void* addr, size_t bytes) {
  int fd = static_cast<int>(::syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK));
  if (fd < 0) return Status::Unsupported(std::string("userfaultfd: ") + std::strerror(errno));
  UniqueFd uffd(fd);
  uffdio_api api{};
  api.api = UFFD_API;
  api.features = UFFD_FEATURE_SIGBUS;
  if (::ioctl(fd, UFFDIO_API, &api) < 0)
    return Status::Unsupported(std::string("UFFDIO_API SIGBUS: ") + std::strerror(errno));
  uffdio_register reg{};
  reg.range.start = reinterpret_cast<uintptr_t>(addr);
  reg.range.len = bytes;
  reg.mode = UFFDIO_REGISTER_MODE_MISSING;
  if (::ioctl(fd, UFFDIO_REGISTER, &reg) < 0)
    return Status::Unsupported(std::string("UFFDIO_REGISTER: ") + std::strerror(errno));
  return PopulateGuard(std::move(uffd));
}

}  // namespace khod
