#include "capture/hugetlb_scan.h"

#include <unistd.h>

#include <algorithm>

#include "capture/flag_reuse.h"
#include "capture/page_window.h"
#include "common/status_macros.h"
#include "kernel/residency.h"

namespace khod {

uint8_t FolioOrder(uint64_t pages_per_folio) {
  uint8_t r = 0;
  while (pages_per_folio > 1) {
    pages_per_folio >>= 1;
    ++r;
  }
  return r;
}

uint64_t HugetlbScanner::window_pages() const {
  return std::max<uint64_t>(kWindowPages, folio_bytes_ / static_cast<uint64_t>(getpagesize()));
}

Status HugetlbScanner::Scan(uint64_t total, FolioExtentBuilder* b,
                            const std::function<void(uint64_t)>& progress) {
  const uint64_t window = window_pages();
  for (uint64_t first = 0; first < total; first += window) {
    const uint64_t n = std::min(window, total - first);
    KHOD_RETURN_IF_ERROR(ScanWindow(first, n, b));
    if (progress) progress(n);
  }
  return Status::Ok();
}

Status HugetlbScanner::ScanWindow(uint64_t first, uint64_t npages, FolioExtentBuilder* b) {
  const size_t page = static_cast<size_t>(getpagesize());
  const uint64_t per_folio = folio_bytes_ / page;
  const uint8_t order = FolioOrder(per_folio);
  const uint64_t nfolios = npages / per_folio;
  uint8_t* base = base_ + first * page;
  pagemap_.resize(npages);
  KHOD_RETURN_IF_ERROR(frames_->ReadPagemap(base, npages, pagemap_.data()));
  auto head_present = [&](uint64_t f) { return PagemapPresent(pagemap_[f * per_folio]); };

  for (uint64_t f = 0; f < nfolios;) {
    if (head_present(f)) {
      ++f;
      continue;
    }
    uint64_t g = f + 1;
    while (g < nfolios && !head_present(g)) ++g;
    *own_populated_ = true;
    Status s = PopulateRead(base + f * folio_bytes_, (g - f) * folio_bytes_);
    if (!s.ok()) {
      if (s.code() != Status::Code::kFailedPrecondition) return s;
      for (uint64_t h = f; h < g; ++h) {  // some are holes: find which, folio by folio
        Status one = PopulateRead(base + h * folio_bytes_, folio_bytes_);
        if (!one.ok() && one.code() != Status::Code::kFailedPrecondition) return one;
      }
    }
    KHOD_RETURN_IF_ERROR(frames_->ReadPagemap(base + f * folio_bytes_, (g - f) * per_folio,
                                              pagemap_.data() + f * per_folio));
    f = g;
  }

  const bool kpf = frames_->kpageflags_readable();
  for (uint64_t f = 0; f < nfolios; ++f) {
    if (!head_present(f)) continue;
    const uint64_t pfn = PagemapPfn(pagemap_[f * per_folio]);
    if (!kpf || pfn == 0) {
      b->AddRun(first + f * per_folio, kPfnUnknown, 1, order, 0, true);
      continue;
    }
    uint64_t head_flags = 0;  // one entry per compound folio, from its head page
    KHOD_RETURN_IF_ERROR(frames_->ReadKpageflags(pfn, 1, &head_flags));
    b->AddRun(first + f * per_folio, pfn, 1, order, FolioFlagsFromKpf(head_flags), true);
  }
  return Status::Ok();
}

}  // namespace khod
