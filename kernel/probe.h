// What the running kernel supports for khod, measured rather than assumed.
// `khoctl probe` prints it; capture and the fixture use it to decide paths.
#ifndef KHOD_KERNEL_PROBE_H_
#define KHOD_KERNEL_PROBE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kernel/shared_policy_probe.h"

namespace khod {

struct HugepageSize {
  uint64_t size_kb = 0;
  uint64_t total = 0;  // nr_hugepages
  uint64_t free = 0;   // free_hugepages
};

struct KernelCaps {
  std::string kernel_release;
  // KVM
  bool kvm_available = false;
  std::string kvm_reason;          // why not, when not
  bool guest_memfd = false;        // KVM_CAP_GUEST_MEMFD
  uint64_t guest_memfd_flags = 0;  // KVM_CAP_GUEST_MEMFD_FLAGS (MMAP=1, INIT_SHARED=2)
  bool user_memory2 = false;       // KVM_CAP_USER_MEMORY2
  uint64_t memory_attributes = 0;  // KVM_CAP_MEMORY_ATTRIBUTES (on a type-0 VM)
  uint64_t vm_types = 0;           // KVM_CAP_VM_TYPES bitmask
  // Whether guest_memfd has a shared (inode) NUMA policy, by probe.
  SharedPolicyProbe gmem_shared_policy;
  // Whether a HugeTLB memfd has one, by the same probe (SharedPolicyOf(kHugetlbMemfd)): no KVM
  // needed, so set with or without /dev/kvm.
  SharedPolicyProbe hugetlb_shared_policy;
  // Memory
  std::vector<HugepageSize> hugepage_sizes;
  bool pfns_readable = false;  // pagemap shows PFNs (CAP_SYS_ADMIN)
  bool kpageflags_readable = false;
  // Whether this process could load the BPF VMA iterator (kernel/vma_policy_iter.h):
  // a khod with its rights reads VMM mappings' policies with it, else from numa_maps.
  bool vma_policy_iter = false;
  std::string vma_policy_iter_evidence;  // what was loaded, or why not
  // Whether this process could load the BPF shared-policy reader (kernel/shared_policy_iter.h):
  // a khod with its rights reads each shmem file's whole shared policy with it, else records it
  // unknown.
  bool shared_policy_iter = false;
  std::string shared_policy_iter_evidence;  // what was loaded, or why not
  // Handover
  // KHO enabled in this boot: /sys/kernel/debug/kho, or CONFIG_KEXEC_HANDOVER=y
  // with kho=on on the command line or CONFIG_KEXEC_HANDOVER_ENABLE_DEFAULT=y
  // (built in alone, KHO stays off).
  bool kho = false;
  std::string kho_evidence;
  bool luo = false;  // /dev/liveupdate
};

KernelCaps ProbeKernel();
// What the kernel command line `cmdline` (/proc/cmdline) says of KHO: true
// for kho=on (or another kstrtobool yes), false for kho=off (or no), nullopt
// when it does not say; the last kho= before "--" wins, as the kernel parses.
std::optional<bool> CmdlineKho(const std::string& cmdline);
std::string CapsToText(const KernelCaps& caps);

}  // namespace khod

#endif  // KHOD_KERNEL_PROBE_H_
