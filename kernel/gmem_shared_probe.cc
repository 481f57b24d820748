#include "kernel/gmem_shared_probe.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>

namespace khod {

Result<bool> ProbeGmemPagesShared(int fd, size_t page_size) {
  void* p = ::mmap(nullptr, page_size, PROT_READ, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return Status::FromErrno("mmap of page 0", errno);
  unsigned char resident = 0;
  Status failed;
  bool shared = false;
  if (::mincore(p, page_size, &resident) < 0) {
    failed = Status::FromErrno("mincore of page 0", errno);
  } else if (::madvise(p, page_size, MADV_POPULATE_READ) == 0) {
    shared = true;
  } else if (errno != EFAULT) {
    failed = Status::FromErrno("madvise(MADV_POPULATE_READ) of page 0", errno);
  }
  ::munmap(p, page_size);
  if (!failed.ok()) return failed;
  if (shared && !(resident & 1) &&
      ::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
                  static_cast<off_t>(page_size)) < 0)
    return Status::FromErrno("fallocate(PUNCH_HOLE) of the page the probe made", errno);
  return shared;
}

}  // namespace khod
