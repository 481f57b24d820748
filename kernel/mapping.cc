#include "kernel/mapping.h"

#include <errno.h>
#include <sys/mman.h>

namespace khod {

Result<Mapping> Mapping::Map(int fd, uint64_t offset, size_t length, int prot, int extra_flags) {
  if (length == 0) return Status::InvalidArgument("mmap of 0 bytes");
  // A HugeTLB file's holes are reserved unless extra_flags has MAP_NORESERVE: mapping.h says
  // for whose files khod reserves.
  void* addr =
      ::mmap(nullptr, length, prot, MAP_SHARED | extra_flags, fd, static_cast<off_t>(offset));
  if (addr == MAP_FAILED) {
    return Status::FromErrno("mmap fd " + std::to_string(fd) + " offset " + std::to_string(offset) +
                                 " length " + std::to_string(length),
                             errno);
  }
  return Mapping(addr, length);
}

Result<bool> IsMappable(int fd, size_t length) {
  if (length == 0) return Status::InvalidArgument("mmap of 0 bytes");
  void* addr = ::mmap(nullptr, length, PROT_NONE, MAP_SHARED | MAP_NORESERVE, fd, 0);
  if (addr != MAP_FAILED) {
    ::munmap(addr, length);
    return true;
  }
  if (errno == ENODEV) return false;
  return Status::FromErrno("mmap(PROT_NONE) fd " + std::to_string(fd), errno);
}

Mapping& Mapping::operator=(Mapping&& o) noexcept {
  if (this != &o) {
    if (addr_) ::munmap(addr_, length_);
    addr_ = std::exchange(o.addr_, nullptr);
    length_ = std::exchange(o.length_, 0);
  }
  return *this;
}

Mapping::~Mapping() {
  if (addr_) ::munmap(addr_, length_);
}

}  // namespace khod
