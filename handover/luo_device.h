// LuoDevice: the syscalls the luo transport makes, behind an interface so that
// tests can check every request it builds without a /dev/liveupdate (which no
// machine here has).
#ifndef KHOD_HANDOVER_LUO_DEVICE_H_
#define KHOD_HANDOVER_LUO_DEVICE_H_

#include <string>

#include "common/status.h"

namespace khod {

class LuoDevice {
 public:
  virtual ~LuoDevice() = default;
  // open(path, O_RDWR): an fd or -errno.
  virtual int Open(const std::string& path) = 0;
  // ioctl(fd, request, arg): 0 or -errno.
  virtual int Ioctl(int fd, unsigned long request, void* arg) = 0;
  virtual void Close(int fd) = 0;
};

// The real kernel.
class KernelLuoDevice : public LuoDevice {
 public:
  int Open(const std::string& path) override;
  int Ioctl(int fd, unsigned long request, void* arg) override;
  void Close(int fd) override;
};

}  // namespace khod

#endif  // KHOD_HANDOVER_LUO_DEVICE_H_
