// Mapping: one mmap'd window of a file, unmapped on destruction. Capture maps
// without MAP_POPULATE so that mapping alone never allocates a page.
//
// A shared mapping of a HugeTLB file reserves, at mmap, a huge page of the
// pool for each page of its range the file does not hold, unless it is
// MAP_NORESERVE. The reservation is the file's (its inode's): it outlives the
// mapping until the file goes or a punch drops it, and it is charged to the
// hugetlb cgroup of the task that mapped. khod's capture mapping
// (capture/kernel_source.h, KernelSourceOptions::reserve_hugetlb_holes)
// reserves for root's files only, those whose attaching caller is uid 0: that
// keeps a hole the VMM punched mappable by the VMM that takes the file back
// after the handover (without it, that VMM's mmap failed ENOMEM once the pool
// had no free page: scripts/rehearse.sh's take-back), and with the pool empty
// the capture mmap fails ENOMEM, naming the file. A member's file is mapped
// MAP_NORESERVE: khod reserves nothing of the pool for it, and the member's
// VMM reserves its holes when it maps the file again, as any mapping of its
// own file does (docs/SECURITY.md). Either way khod never fills a hole: a
// HugeTLB mapping is populated only under kernel/residency.h's PopulateGuard,
// and loads run under kernel/sigbus_guard.h. For shmem and guest_memfd no
// mapping reserves.
#ifndef KHOD_KERNEL_MAPPING_H_
#define KHOD_KERNEL_MAPPING_H_

#include <cstddef>
#include <cstdint>
#include <utility>

#include "common/status.h"

namespace khod {

class Mapping {
 public:
  Mapping() = default;
  // mmap(MAP_SHARED | extra_flags, prot) of [offset, offset + length) of fd.
  static Result<Mapping> Map(int fd, uint64_t offset, size_t length, int prot, int extra_flags = 0);
  Mapping(Mapping&& o) noexcept
      : addr_(std::exchange(o.addr_, nullptr)), length_(std::exchange(o.length_, 0)) {}
  Mapping& operator=(Mapping&& o) noexcept;
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping();

  uint8_t* data() const { return static_cast<uint8_t*>(addr_); }
  size_t length() const { return length_; }

 private:
  Mapping(void* addr, size_t length) : addr_(addr), length_(length) {}
  void* addr_ = nullptr;
  size_t length_ = 0;
};

// Whether `fd` can be mmap'd at all: mmap(PROT_NONE, MAP_SHARED | MAP_NORESERVE) of `length`
// bytes succeeds (true) or fails with ENODEV (false: a guest_memfd created
// without GUEST_MEMFD_FLAG_MMAP). Maps nothing for good, touches no page and
// reserves nothing (a HugeTLB file with holes answers with the pool empty);
// any other failure is an error.
Result<bool> IsMappable(int fd, size_t length);

}  // namespace khod

#endif  // KHOD_KERNEL_MAPPING_H_
