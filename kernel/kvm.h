// /dev/kvm: the VMM side of guest_memfd (what the fixture and the probe need).
// Each object owns its fd; errors name the ioctl and the errno.
#ifndef KHOD_KERNEL_KVM_H_
#define KHOD_KERNEL_KVM_H_

#include <cstdint>
#include <string>

#include "common/status.h"
#include "common/unique_fd.h"

namespace khod {

constexpr const char* kKvmDevicePath = "/dev/kvm";

class KvmVm;

// The system fd (/dev/kvm).
class Kvm {
 public:
  // NotFound when /dev/kvm is missing (the message says so), IoError otherwise.
  static Result<Kvm> Open(const char* path = kKvmDevicePath);
  int fd() const { return fd_.get(); }
  // KVM_CHECK_EXTENSION on the system fd: the kernel's answer (0 = unsupported).
  Result<int> CheckExtension(long cap) const;
  Result<KvmVm> CreateVm(uint32_t vm_type = 0) const;
  // A VM (type 0) on which guest_memfds with `flags` can be made: CreateVm, then
  // KvmVm::SupportsGuestMemfd, whose Unsupported (the kernel lacks guest_memfd or one of
  // `flags`) it answers as it came, as any other failure.
  Result<KvmVm> CreateVmForGuestMemfd(uint64_t flags) const;

 private:
  explicit Kvm(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

// One VM fd.
class KvmVm {
 public:
  int fd() const { return fd_.get(); }
  uint32_t vm_type() const { return vm_type_; }
  // KVM_CHECK_EXTENSION on the VM fd (answers can differ per VM type).
  Result<int> CheckExtension(long cap) const;
  // Ok when this VM's kernel makes guest_memfds with `flags` (GUEST_MEMFD_FLAG_*); Unsupported,
  // naming the capability, when it has no guest_memfd (KVM_CAP_GUEST_MEMFD 0: a /dev/kvm
  // without guest_memfd exists) or lacks one of `flags` (KVM_CAP_GUEST_MEMFD_FLAGS).
  Status SupportsGuestMemfd(uint64_t flags) const;
  // KVM_CREATE_GUEST_MEMFD; flags are GUEST_MEMFD_FLAG_* (kvm_uapi.h). A refusal by a kernel
  // that does not support them is SupportsGuestMemfd's Unsupported, so that callers with a
  // stand-in can fall back on that code alone; any other failure names the ioctl and errno.
  Result<UniqueFd> CreateGuestMemfd(uint64_t size, uint64_t flags) const;
  // KVM_SET_USER_MEMORY_REGION2 with KVM_MEM_GUEST_MEMFD binding
  // [gmem_offset, gmem_offset + size) of gmem_fd at guest_phys_addr.
  Status SetGuestMemfdRegion(uint32_t slot, uint64_t guest_phys_addr, uint64_t size,
                             uint64_t userspace_addr, int gmem_fd, uint64_t gmem_offset,
                             uint32_t extra_flags = 0) const;
  // KVM_SET_MEMORY_ATTRIBUTES; Unsupported when the VM type lacks it (ENOTTY).
  Status SetMemoryAttributes(uint64_t guest_phys_addr, uint64_t size, uint64_t attributes) const;

 private:
  friend class Kvm;
  KvmVm(UniqueFd fd, uint32_t type) : fd_(std::move(fd)), vm_type_(type) {}
  UniqueFd fd_;
  uint32_t vm_type_ = 0;
};

}  // namespace khod

#endif  // KHOD_KERNEL_KVM_H_
