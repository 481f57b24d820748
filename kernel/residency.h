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
//
// `no_fault_around` registers write-protect mode too (shmem and HugeTLB need
// UFFD_FEATURE_WP_HUGETLBFS_SHMEM): no write-protection is ever set and the
// mapping is never written, so it raises nothing, but the kernel does not
// fault around in a VMA registered so (mm/memory.c should_fault_around:
// uffd_disable_fault_around). A read fault then maps the one page asked for,
// never a neighbour the page cache holds: what a change scan of shmem needs
// (capture/change_scan.h: only pages khod's capture reads are faulted in).
class PopulateGuard {
 public:
  // Unsupported when the kernel refuses userfaultfd (or, with
  // `no_fault_around`, its write-protect mode) on this mapping.
  static Result<PopulateGuard> Register(void* addr, size_t bytes, bool no_fault_around = false);

  int fd() const { return fd_.get(); }  // the userfaultfd

 private:
  explicit PopulateGuard(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;  // closing it unregisters
};

}  // namespace khod

#endif  // KHOD_KERNEL_RESIDENCY_H_
