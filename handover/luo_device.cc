#include "handover/luo_device.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>

namespace khod {

int KernelLuoDevice::Open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  return fd < 0 ? -errno : fd;
}

int KernelLuoDevice::Ioctl(int fd, unsigned long request, void* arg) {
  return ::ioctl(fd, request, arg) < 0 ? -errno : 0;
}

void KernelLuoDevice::Close(int fd) { ::close(fd); }

}  // namespace khod
