// The folio list of a HugeTLB memfd, one huge folio at a time: mincore cannot
// see HugeTLB page cache, so under the PopulateGuard (kernel/residency.h)
// populating a run maps the folios that exist and fails on holes without
// allocating; one kpageflags entry per folio, from its head page.
#ifndef KHOD_CAPTURE_HUGETLB_SCAN_H_
#define KHOD_CAPTURE_HUGETLB_SCAN_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <vector>

#include "capture/folio_extent_builder.h"
#include "common/status.h"
#include "kernel/pagemap.h"

namespace khod {

// log2 of a folio's pages: its order.
uint8_t FolioOrder(uint64_t pages_per_folio);

class HugetlbScanner {
 public:
  // `base`: khod's guarded mapping of the file; `folio_bytes`: its huge page size.
  HugetlbScanner(uint8_t* base, const PageFrameReader* frames, uint64_t folio_bytes,
                 std::atomic<bool>* own_populated)
      : base_(base), frames_(frames), folio_bytes_(folio_bytes), own_populated_(own_populated) {}

  // Pages handled per pass: kWindowPages, or one folio when that is larger.
  uint64_t window_pages() const;
  // Adds the folios of pages [first, first + npages) (whole folios) to *b.
  Status ScanWindow(uint64_t first, uint64_t npages, FolioExtentBuilder* b);
  // Every window of pages [0, total) in turn; progress(pages) after each.
  Status Scan(uint64_t total, FolioExtentBuilder* b,
              const std::function<void(uint64_t)>& progress = nullptr);

 private:
  uint8_t* base_;
  const PageFrameReader* frames_;
  uint64_t folio_bytes_;
  std::atomic<bool>* own_populated_;
  std::vector<uint64_t> pagemap_;  // kept between captures
};

}  // namespace khod

#endif  // KHOD_CAPTURE_HUGETLB_SCAN_H_
