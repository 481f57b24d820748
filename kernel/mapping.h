// Mapping: one mmap'd window of a file, unmapped on destruction. Capture maps
// without MAP_POPULATE so that mapping alone never allocates a page.
//
// Every mapping is MAP_NORESERVE. The files khod maps are mostly other
// callers' (a VMM's guest_memfd, memfd or HugeTLB file), and a shared
// mapping of a HugeTLB file otherwise reserves, at mmap, a huge page from the
// pool for every page of the range the file does not hold yet: khod's mapping
// took the file owner's reservation, charged to khod, and with the pool empty
// the mmap failed ENOMEM, failing the owner's Prepare. khod never fills a
// hole, so it needs no reservation: it reads, hashes and pins only pages the
// file holds, a HugeTLB mapping is populated only under kernel/residency.h's
// PopulateGuard (a hole fails the populate, nothing is allocated), and loads
// run under kernel/sigbus_guard.h. Were a hole touched all the same, the
// kernel would allocate a huge page into the file from the pool, unreserved,
// or, with none free, raise SIGBUS. For other files (shmem, guest_memfd) a
// shared mapping reserves nothing and the flag changes nothing.
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
  // mmap(MAP_SHARED | MAP_NORESERVE | extra_flags, prot) of
  // [offset, offset + length) of fd.
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
// without GUEST_MEMFD_FLAG_MMAP). Maps nothing for good and touches no page;
// any other failure is an error.
Result<bool> IsMappable(int fd, size_t length);

}  // namespace khod

#endif  // KHOD_KERNEL_MAPPING_H_
