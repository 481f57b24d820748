// The guest_memfd uAPI that Debian 12's <linux/kvm.h> predates. Every value is
// copied from the kernel's include/uapi/linux/kvm.h (6.18); the struct sizes are
// checked below so a typo cannot silently change an ioctl number (the size is
// encoded in it).
#ifndef KHOD_KERNEL_KVM_UAPI_H_
#define KHOD_KERNEL_KVM_UAPI_H_

#include <linux/ioctl.h>
#include <linux/kvm.h>
#include <linux/types.h>

namespace khod {
namespace uapi {

// Capability numbers (KVM_CHECK_EXTENSION).
constexpr long kCapUserMemory2 = 231;  // KVM_CAP_USER_MEMORY2
constexpr long kCapMemoryAttributes =
    233;  // KVM_CAP_MEMORY_ATTRIBUTES: answers the supported attribute bits
constexpr long kCapGuestMemfd = 234;  // KVM_CAP_GUEST_MEMFD
constexpr long kCapVmTypes = 235;     // KVM_CAP_VM_TYPES: answers a bitmask of VM types
constexpr long kCapGuestMemfdFlags =
    244;  // KVM_CAP_GUEST_MEMFD_FLAGS: answers the supported flag bits

// KVM_CREATE_GUEST_MEMFD flags.
constexpr __u64 kGuestMemfdFlagMmap = 1ull << 0;        // GUEST_MEMFD_FLAG_MMAP
constexpr __u64 kGuestMemfdFlagInitShared = 1ull << 1;  // GUEST_MEMFD_FLAG_INIT_SHARED

// kvm_userspace_memory_region2.flags.
constexpr __u32 kMemGuestMemfd = 1u << 2;  // KVM_MEM_GUEST_MEMFD

// kvm_memory_attributes.attributes.
constexpr __u64 kMemoryAttributePrivate = 1ull << 3;  // KVM_MEMORY_ATTRIBUTE_PRIVATE

struct kvm_create_guest_memfd {
  __u64 size;
  __u64 flags;
  __u64 reserved[6];
};
static_assert(sizeof(kvm_create_guest_memfd) == 64, "kvm_create_guest_memfd layout");

struct kvm_userspace_memory_region2 {
  __u32 slot;
  __u32 flags;
  __u64 guest_phys_addr;
  __u64 memory_size;
  __u64 userspace_addr;
  __u64 guest_memfd_offset;
  __u32 guest_memfd;
  __u32 pad1;
  __u64 pad2[14];
};
static_assert(sizeof(kvm_userspace_memory_region2) == 160, "kvm_userspace_memory_region2 layout");

struct kvm_memory_attributes {
  __u64 address;
  __u64 size;
  __u64 attributes;
  __u64 flags;
};
static_assert(sizeof(kvm_memory_attributes) == 32, "kvm_memory_attributes layout");

// ioctl numbers: KVMIO is 0xAE (in Debian's <linux/kvm.h>).
constexpr unsigned long kIoctlSetUserMemoryRegion2 =
    _IOW(KVMIO, 0x49, struct kvm_userspace_memory_region2);
constexpr unsigned long kIoctlSetMemoryAttributes = _IOW(KVMIO, 0xd2, struct kvm_memory_attributes);
constexpr unsigned long kIoctlCreateGuestMemfd = _IOWR(KVMIO, 0xd4, struct kvm_create_guest_memfd);

}  // namespace uapi
}  // namespace khod

#endif  // KHOD_KERNEL_KVM_UAPI_H_
