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
  if (::mincore(const_cast<void*>(addr), bytes, out) < 0)
    return Status::FromErrno("mincore", errno);
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

Result<PopulateGuard> PopulateGuard::Register(void* addr, size_t bytes, bool no_fault_around) {
  int fd = static_cast<int>(::syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK));
  // Without CAP_SYS_PTRACE (e.g. root in a user namespace) only a user-mode
  // uffd may be created; a kernel-mode fault (populate) on it still fails with
  // SIGBUS/EFAULT rather than allocating, which is all the guard needs.
  if (fd < 0 && errno == EPERM)
    fd = static_cast<int>(::syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY));
  if (fd < 0) return Status::Unsupported(std::string("userfaultfd: ") + std::strerror(errno));
  UniqueFd uffd(fd);
  uffdio_api api{};
  api.api = UFFD_API;
  api.features = UFFD_FEATURE_SIGBUS | (no_fault_around ? UFFD_FEATURE_WP_HUGETLBFS_SHMEM : 0);
  if (::ioctl(fd, UFFDIO_API, &api) < 0)
    return Status::Unsupported(std::string("UFFDIO_API SIGBUS") +
                               (no_fault_around ? " WP_HUGETLBFS_SHMEM: " : ": ") +
                               std::strerror(errno));
  uffdio_register reg{};
  reg.range.start = reinterpret_cast<uintptr_t>(addr);
  reg.range.len = bytes;
  reg.mode = UFFDIO_REGISTER_MODE_MISSING | (no_fault_around ? UFFDIO_REGISTER_MODE_WP : 0);
  if (::ioctl(fd, UFFDIO_REGISTER, &reg) < 0)
    return Status::Unsupported(std::string("UFFDIO_REGISTER: ") + std::strerror(errno));
  return PopulateGuard(std::move(uffd));
}

}  // namespace khod
