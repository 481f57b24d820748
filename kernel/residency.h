// Which pages of a mapped file exist, found without creating any, and making
// existing ones visible in this process's page tables so pagemap can name
// their PFNs.
#ifndef KHOD_KERNEL_RESIDENCY_H_
#define KHOD_KERNEL_RESIDENCY_H_

#include <cstddef>
#include <cstdint>

#include "common/status.h"
#include "common/unique_fd.h"

namespace khod {

// mincore(): bit 0 of out[i] says page i of [addr, addr + npages pages) is in
// the file's page cache. Never faults. (HugeTLB mappings answer only for pages
// mapped in this process, so HugeTLB residency comes from PopulateGuard.)
Status Mincore(const void* addr, size_t npages, uint8_t* out);

// madvise(MADV_POPULATE_READ): maps existing pages of [addr, addr + bytes).
// FailedPrecondition when a page would fault with SIGBUS (private guest_memfd
// page, or a hole under a PopulateGuard); the kernel returns EFAULT, no signal.
Status PopulateRead(void* addr, size_t bytes);

// A userfaultfd registered in MISSING mode with UFFD_FEATURE_SIGBUS over a
// mapping: a fault on a hole fails (EFAULT from PopulateRead) instead of
// allocating a page. This closes the race between mincore and populate on
// shmem, and is the only way to find HugeTLB residency without allocating.
// Works on shmem and HugeTLB mappings, not on guest_memfd.
class PopulateGuard {
 public:
  // Unsupported when the kernel refuses userfaultfd on this mapping.
  static Result<PopulateGuard> Register(void* addr, size_t bytes);

 private:
  explicit PopulateGuard(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;  // closing it unregisters
};

}  // namespace khod

#endif  // KHOD_KERNEL_RESIDENCY_H_
