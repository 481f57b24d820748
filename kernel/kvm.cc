#include "kernel/kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>

#include <cstring>

#include "common/hex.h"
#include "common/status_macros.h"
#include "kernel/kvm_uapi.h"

namespace khod {

Result<Kvm> Kvm::Open(const char* path) {
  int fd = ::open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT || err == ENODEV || err == ENXIO)
      return Status::NotFound(std::string(path) + " is not available (" + std::strerror(err) +
                              "): this kernel has no usable KVM device");
    if (err == EACCES || err == EPERM)
      return Status::PermissionDenied(std::string("open ") + path + ": " + std::strerror(err));
    return Status::FromErrno(std::string("open ") + path, err);
  }
  return Kvm(UniqueFd(fd));
}

static Result<int> CheckExtensionOn(int fd, long cap) {
  int r = ::ioctl(fd, KVM_CHECK_EXTENSION, cap);
  if (r < 0) return Status::FromErrno("KVM_CHECK_EXTENSION " + std::to_string(cap), errno);
  return r;
}

Result<int> Kvm::CheckExtension(long cap) const { return CheckExtensionOn(fd_.get(), cap); }
Result<int> KvmVm::CheckExtension(long cap) const { return CheckExtensionOn(fd_.get(), cap); }

Result<KvmVm> Kvm::CreateVm(uint32_t vm_type) const {
  int fd = ::ioctl(fd_.get(), KVM_CREATE_VM, static_cast<unsigned long>(vm_type));
  if (fd < 0) return Status::FromErrno("KVM_CREATE_VM type " + std::to_string(vm_type), errno);
  return KvmVm(UniqueFd(fd), vm_type);
}

Result<KvmVm> Kvm::CreateVmForGuestMemfd(uint64_t flags) const {
  KHOD_ASSIGN_OR_RETURN(KvmVm vm, CreateVm(0));
  KHOD_RETURN_IF_ERROR(vm.SupportsGuestMemfd(flags));
  return vm;
}

Status KvmVm::SupportsGuestMemfd(uint64_t flags) const {
  Result<int> gmem = CheckExtension(uapi::kCapGuestMemfd);
  if (!gmem.ok()) return gmem.status();
  if (*gmem <= 0)
    return Status::Unsupported("this kernel has no guest_memfd (KVM_CAP_GUEST_MEMFD)");
  if (flags == 0) return Status::Ok();
  Result<int> known = CheckExtension(uapi::kCapGuestMemfdFlags);
  if (!known.ok()) return known.status();
  const uint64_t missing = flags & ~static_cast<uint64_t>(*known > 0 ? *known : 0);
  if (missing != 0)
    return Status::Unsupported("this kernel's guest_memfd lacks flags " + Hex(missing) +
                               " (KVM_CAP_GUEST_MEMFD_FLAGS " + Hex(*known) + ")");
  return Status::Ok();
}

Result<UniqueFd> KvmVm::CreateGuestMemfd(uint64_t size, uint64_t flags) const {
  uapi::kvm_create_guest_memfd req{};
  req.size = size;
  req.flags = flags;
  int fd = ::ioctl(fd_.get(), uapi::kIoctlCreateGuestMemfd, &req);
  if (fd < 0) {
    const int err = errno;
    // ENOTTY: no such ioctl; EINVAL: among others, a flag the kernel does not know.
    if (err == ENOTTY || err == EINVAL) {
      Status supported = SupportsGuestMemfd(flags);
      if (supported.code() == Status::Code::kUnsupported) return supported;
    }
    return Status::FromErrno(
        "KVM_CREATE_GUEST_MEMFD size " + std::to_string(size) + " flags " + Hex(flags), err);
  }
  UniqueFd made(fd);
  // The kernel makes it without O_CLOEXEC (fdinfo flags 0100002): set now, so
  // that no process this one starts inherits the file (and with it the VM).
  if (::fcntl(made.get(), F_SETFD, FD_CLOEXEC) != 0)
    return Status::FromErrno("close-on-exec for a new guest_memfd", errno);
  return made;
}

Status KvmVm::SetGuestMemfdRegion(uint32_t slot, uint64_t guest_phys_addr, uint64_t size,
                                  uint64_t userspace_addr, int gmem_fd, uint64_t gmem_offset,
                                  uint32_t extra_flags) const {
  uapi::kvm_userspace_memory_region2 region{};
  region.slot = slot;
  region.flags = uapi::kMemGuestMemfd | extra_flags;
  region.guest_phys_addr = guest_phys_addr;
  region.memory_size = size;
  region.userspace_addr = userspace_addr;
  region.guest_memfd_offset = gmem_offset;
  region.guest_memfd = static_cast<__u32>(gmem_fd);
  if (::ioctl(fd_.get(), uapi::kIoctlSetUserMemoryRegion2, &region) < 0)
    return Status::FromErrno("KVM_SET_USER_MEMORY_REGION2 slot " + std::to_string(slot), errno);
  return Status::Ok();
}

Status KvmVm::SetMemoryAttributes(uint64_t guest_phys_addr, uint64_t size,
                                  uint64_t attributes) const {
  uapi::kvm_memory_attributes req{};
  req.address = guest_phys_addr;
  req.size = size;
  req.attributes = attributes;
  if (::ioctl(fd_.get(), uapi::kIoctlSetMemoryAttributes, &req) < 0) {
    int err = errno;
    if (err == ENOTTY || err == EINVAL)
      return Status::Unsupported(std::string("KVM_SET_MEMORY_ATTRIBUTES: ") + std::strerror(err) +
                                 " (this VM type has no per-page private/shared attributes)");
    return Status::FromErrno("KVM_SET_MEMORY_ATTRIBUTES", err);
  }
  return Status::Ok();
}

}  // namespace khod
