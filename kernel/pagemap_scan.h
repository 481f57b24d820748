// PAGEMAP_SCAN (Linux 6.7+, linux/fs.h; Debian's headers predate it): the
// ranges of a mapping whose pages are not present, found by the kernel's page
// table walk in one ioctl per batch of ranges, without reading one pagemap
// entry per page. Works on /proc/self/pagemap and on another process's
// (the reexec mapping holder's). Returns ranges, never PFNs.
#ifndef KHOD_KERNEL_PAGEMAP_SCAN_H_
#define KHOD_KERNEL_PAGEMAP_SCAN_H_

#include <cstdint>
#include <vector>

#include "common/status.h"

namespace khod {

namespace uapi {
// include/uapi/linux/fs.h, checked against Linux 6.18.
constexpr uint64_t kPageIsPresent = 1ull << 3;
struct PageRegion {
  uint64_t start, end, categories;
};
struct PmScanArg {
  uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages, category_inverted,
      category_mask, category_anyof_mask, return_mask;
};
static_assert(sizeof(PmScanArg) == 96, "struct pm_scan_arg");
static_assert(sizeof(PageRegion) == 24, "struct page_region");
}  // namespace uapi

// A range of pages of a mapping: [first, first + count), in pages from the
// address the scan started at.
struct PageSpan {
  uint64_t first, count;
  uint64_t end() const { return first + count; }
};

// The pages of [addr, addr + npages pages) of the address space `pagemap_fd`
// was opened on (/proc/PID/pagemap) that are not present (never populated,
// zapped by a punch or truncation, swapped or under migration, or with no
// mapping there at all: unmapped, or the process gone), in order.
// Unsupported when the kernel has no PAGEMAP_SCAN (ENOTTY/EINVAL).
Result<std::vector<PageSpan>> NonPresentPages(int pagemap_fd, uint64_t addr, uint64_t npages);

}  // namespace khod

#endif  // KHOD_KERNEL_PAGEMAP_SCAN_H_
