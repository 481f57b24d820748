// PagePin: long-term pins (FOLL_LONGTERM) on pages of a shmem memfd, which
// keep the kernel from moving them until they are released.
//
// Why: a change scan (capture/change_scan.h) is exact only for memory whose
// pages cannot move while they stay mapped: a migrated page stays present at
// a new PFN, which no non-present range shows. guest_memfd cannot move; shmem
// can (compaction, NUMA balancing, khugepaged). A pinned folio cannot: every
// migration path freezes the folio's reference count at the count it expects
// (folio_migrate_mapping), and a pin adds to it, so the migration fails and
// its migration entries are replaced by the old folio's PTEs (same PFN).
// khugepaged's collapse checks the count the same way and unmaps first. A
// punch, truncation or reclaim still removes the page from the file and
// unmaps it first: that shows as a non-present range, as for guest_memfd.
// (Probe on Linux 6.18, docs/PERFORMANCE.md: compaction moved 58-80 % of an
// unpinned shmem file's pages and none of the pinned ones.)
//
// How: io_uring's registered buffers (IORING_REGISTER_BUFFERS), the one
// unprivileged-API long-term pin; FOLL_WRITE, so the pages are faulted in
// through a writable shared mapping made for the registration and unmapped
// right after (the pins outlive it; khod never writes through it). The
// pinned pages are charged to RLIMIT_MEMLOCK unless the caller has
// CAP_IPC_LOCK. What pinning does to the host: those pages are not compacted,
// migrated, balanced or reclaimed until released; on a kernel with
// ZONE_MOVABLE or CMA the pin first migrates pages out of them (so a pin is
// taken before the PFNs it stands for are read).
//
// Only pages the file has may be named: the pin faults in what it names, so a
// hole named would be allocated (a page punched between the caller's look and
// the pin is: it reads as zeros, as the hole did).
#ifndef KHOD_KERNEL_PAGE_PIN_H_
#define KHOD_KERNEL_PAGE_PIN_H_

#include <cstdint>
#include <utility>
#include <vector>

#include "common/status.h"
#include "common/unique_fd.h"
#include "kernel/pagemap_scan.h"

namespace khod {

class PagePin {
 public:
  PagePin() = default;
  PagePin(PagePin&& o) noexcept : rings_(std::move(o.rings_)), pages_(std::exchange(o.pages_, 0)) {
    o.rings_.clear();
  }
  PagePin& operator=(PagePin&& o) noexcept {
    if (this != &o) {
      Release();
      rings_ = std::move(o.rings_);
      o.rings_.clear();
      pages_ = std::exchange(o.pages_, 0);
    }
    return *this;
  }
  PagePin(const PagePin&) = delete;
  PagePin& operator=(const PagePin&) = delete;
  ~PagePin() { Release(); }

  // Pins the pages of `spans` (sorted, disjoint, in pages of `page_size`) of
  // the file `fd` of `file_size` bytes, on up to `threads` threads, each
  // faulting in and registering a share of the bytes on rings of its own; a
  // share holds at least 64 MiB (fewer threads for less), since every ring
  // costs the exec that hands it on. Unsupported
  // where io_uring is disabled (kernel.io_uring_disabled) or absent;
  // ResourceExhausted where the pin exceeds RLIMIT_MEMLOCK; InvalidArgument
  // for spans past the file.
  static Result<PagePin> Pin(int fd, uint64_t file_size, const std::vector<PageSpan>& spans,
                             uint64_t page_size, int threads = 1);

  // Takes the rings a previous khod pinned with (a reexec's --page-pins):
  // each must be an io_uring fd (io_uring_register answers it), else
  // InvalidArgument naming it. What they pin is the giver's word; pages()
  // is 0 (not counted).
  static Result<PagePin> Adopt(std::vector<UniqueFd> rings);

  // Pages pinned (by Pin and Absorb; not by Adopt), and the ring fds.
  uint64_t pages() const { return pages_; }
  bool held() const { return !rings_.empty(); }
  std::vector<int> ring_fds() const;
  // Holds `more`'s pins too.
  void Absorb(PagePin&& more);
  // Unpins now (synchronously); also on destruction.
  void Release();
  // Closes the rings without unpinning here: the kernel unpins in its ring
  // teardown, on a worker of its own (off a caller that must answer first).
  void ReleaseInBackground();

 private:
  std::vector<UniqueFd> rings_;  // each holds up to kMaxBuffersPerRing buffers
  uint64_t pages_ = 0;
};

}  // namespace khod

#endif  // KHOD_KERNEL_PAGE_PIN_H_
