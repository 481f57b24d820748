#include "kernel/pagemap_scan.h"

#include <errno.h>
#include <sys/ioctl.h>
#include <unistd.h>

namespace khod {

namespace {

// _IOWR('f', 16, struct pm_scan_arg)
constexpr unsigned long kPagemapScan = _IOWR('f', 16, uapi::PmScanArg);
constexpr size_t kRegionsPerCall = 1024;

}  // namespace

Result<std::vector<PageSpan>> NonPresentPages(int pagemap_fd, uint64_t addr, uint64_t npages) {
  const uint64_t page = static_cast<uint64_t>(getpagesize());
  const uint64_t end = addr + npages * page;
  std::vector<uapi::PageRegion> regions(kRegionsPerCall);
  std::vector<PageSpan> out;
  // The kernel is asked for the present ranges, and every other page is not
  // present: the walk reports no range at all where no VMA lies (an unmapped
  // range, a mapping removed, an address space gone with its process), so
  // asking for the non-present ones would leave those pages out.
  auto absent = [&](uint64_t from, uint64_t to) {
    if (to <= from) return;
    const uint64_t first = (from - addr) / page, count = (to - from) / page;
    if (!out.empty() && out.back().end() == first)
      out.back().count += count;
    else
      out.push_back(PageSpan{first, count});
  };
  uint64_t classified = addr;  // every page before it is present or in `out`
  for (uint64_t at = addr; at < end;) {
    uapi::PmScanArg a = {};
    a.size = sizeof(a);
    a.start = at;
    a.end = end;
    a.vec = reinterpret_cast<uint64_t>(regions.data());
    a.vec_len = regions.size();
    a.category_mask = uapi::kPageIsPresent;
    a.return_mask = uapi::kPageIsPresent;
    const int n = ::ioctl(pagemap_fd, kPagemapScan, &a);
    if (n < 0) {
      if (errno == ENOTTY || errno == EINVAL)
        return Status::Unsupported("PAGEMAP_SCAN is not supported by this kernel");
      return Status::FromErrno("ioctl(PAGEMAP_SCAN)", errno);
    }
    for (int i = 0; i < n; ++i) {
      absent(classified, regions[i].start);
      classified = regions[i].end;
    }
    if (a.walk_end <= at) return Status::Internal("PAGEMAP_SCAN made no progress");
    // Up to where the walk stopped, nothing after the last range is present.
    absent(classified, a.walk_end);
    classified = a.walk_end;
    at = a.walk_end;
  }
  return out;
}

}  // namespace khod
