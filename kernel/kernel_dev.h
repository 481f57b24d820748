// A device number as the kernel keeps it in struct super_block's s_dev (MINORBITS 20: major
// << 20 | minor), which the BPF programs of kernel/bpf/ copy, as userspace's makedev() encodes
// it (fstat's st_dev, the device /proc/PID/maps shows).
#ifndef KHOD_KERNEL_KERNEL_DEV_H_
#define KHOD_KERNEL_KERNEL_DEV_H_

#include <sys/sysmacros.h>

#include <cstdint>

namespace khod {

inline uint64_t UserDevOfKernelDev(uint32_t kernel_dev) {
  return makedev(kernel_dev >> 20, kernel_dev & 0xfffff);
}

}  // namespace khod

#endif  // KHOD_KERNEL_KERNEL_DEV_H_
