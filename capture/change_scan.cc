#include "capture/change_scan.h"

#include <unistd.h>

#include <algorithm>

#include "capture/flag_reuse.h"
#include "common/status_macros.h"
#include "common/thread_shares.h"
#include "kernel/residency.h"

namespace khod {

namespace {

// Sorted, joined spans.
class SpanList {
 public:
  explicit SpanList(uint64_t join_gap) : gap_(join_gap) {}
  void Add(uint64_t first, uint64_t count) {
    if (count == 0) return;
    if (!spans_.empty() && first <= spans_.back().end() + gap_) {
      spans_.back().count = std::max(spans_.back().end(), first + count) - spans_.back().first;
      return;
    }
    spans_.push_back(PageSpan{first, count});
  }
  std::vector<PageSpan> Take() { return std::move(spans_); }

 private:
  uint64_t gap_;
  std::vector<PageSpan> spans_;
};

}  // namespace

Result<std::vector<PageSpan>> NonPresentPagesInShares(int pagemap_fd, uint64_t addr,
                                                      uint64_t npages, int threads,
                                                      uint64_t min_share) {
  constexpr uint64_t kPageTable = 512;
  const uint64_t page = static_cast<uint64_t>(::getpagesize());
  uint64_t shares =
      std::max<uint64_t>(1, std::min<uint64_t>(static_cast<uint64_t>(std::max(threads, 1)),
                                               npages / std::max<uint64_t>(min_share, 1)));
  uint64_t per = (npages + shares - 1) / shares;
  per = (per + kPageTable - 1) / kPageTable * kPageTable;
  shares = per ? (npages + per - 1) / per : 1;
  if (shares <= 1) return NonPresentPages(pagemap_fd, addr, npages);
  std::vector<std::vector<PageSpan>> parts(shares);
  KHOD_RETURN_IF_ERROR(RunShares(static_cast<int>(shares), [&](int i) -> Status {
    const uint64_t first = static_cast<uint64_t>(i) * per;
    const uint64_t count = std::min(per, npages - first);
    KHOD_ASSIGN_OR_RETURN(parts[i], NonPresentPages(pagemap_fd, addr + first * page, count));
    for (PageSpan& sp : parts[i]) sp.first += first;
    return Status::Ok();
  }));
  SpanList out(/*join_gap=*/0);  // a span cut by a share boundary is joined again
  for (const std::vector<PageSpan>& part : parts)
    for (const PageSpan& sp : part) out.Add(sp.first, sp.count);
  return out.Take();
}

Result<std::vector<PageSpan>> NonPresentPagesWithin(int pagemap_fd, uint64_t addr, uint64_t total,
                                                    const std::vector<PageSpan>& spans) {
  const uint64_t page = static_cast<uint64_t>(::getpagesize());
  SpanList out(/*join_gap=*/0);
  for (const PageSpan& sp : spans) {
    if (sp.first >= total) break;
    const uint64_t count = std::min(sp.count, total - sp.first);
    KHOD_ASSIGN_OR_RETURN(std::vector<PageSpan> part,
                          NonPresentPages(pagemap_fd, addr + sp.first * page, count));
    for (const PageSpan& p : part) out.Add(sp.first + p.first, p.count);
  }
  return out.Take();
}

uint64_t PagesWithin(uint64_t total, const std::vector<PageSpan>& spans) {
  uint64_t n = 0;
  for (const PageSpan& sp : spans)
    if (sp.first < total) n += std::min(sp.count, total - sp.first);
  return n;
}

namespace {

// Extents [begin, end) of `baseline` into `holes` and `always`, the pages
// before `begin` ending at *end (updated).
void AddRescanSpans(const FolioList& baseline, size_t begin, size_t end, uint64_t* pages_end,
                    SpanList* holes, SpanList* always) {
  for (size_t i = begin; i < end; ++i) {
    const FolioExtent& e = baseline[i];
    if (e.first_index > *pages_end) holes->Add(*pages_end, e.first_index - *pages_end);
    if (e.first_pfn == kPfnUnknown || !FlagsStayWhileMapped(e.flags))
      always->Add(e.first_index, e.pages());
    *pages_end = std::max(*pages_end, e.end_index());
  }
}

}  // namespace

RescanBase MakeRescanBase(const FolioList& baseline, int threads, size_t min_share) {
  RescanBase base;
  base.version = baseline.version();
  const size_t n = baseline.size();
  const size_t shares =
      std::max<size_t>(1, std::min<size_t>(static_cast<size_t>(std::max(threads, 1)),
                                           n / std::max<size_t>(min_share, 1)));
  SpanList holes(/*join_gap=*/0), always(/*join_gap=*/0);
  if (shares <= 1 || !baseline.facts().well_formed) {
    AddRescanSpans(baseline, 0, n, &base.end, &holes, &always);
    base.holes = holes.Take();
    base.always = always.Take();
    return base;
  }
  // Well-formed: in file order and apart, so a run's pages before it end
  // where the extent before the run ends.
  struct Run {
    std::vector<PageSpan> holes, always;
  };
  std::vector<Run> runs(shares);
  (void)RunShares(static_cast<int>(shares), [&](int s) {
    const size_t begin = n * static_cast<size_t>(s) / shares;
    const size_t end = n * static_cast<size_t>(s + 1) / shares;
    uint64_t pages_end = begin ? baseline[begin - 1].end_index() : 0;
    SpanList h(/*join_gap=*/0), a(/*join_gap=*/0);
    AddRescanSpans(baseline, begin, end, &pages_end, &h, &a);
    runs[static_cast<size_t>(s)] = Run{h.Take(), a.Take()};
    return Status::Ok();
  });
  for (const Run& r : runs) {  // joined again where a span meets the next run's
    for (const PageSpan& sp : r.holes) holes.Add(sp.first, sp.count);
    for (const PageSpan& sp : r.always) always.Add(sp.first, sp.count);
  }
  base.end = baseline.facts().end_index;
  base.holes = holes.Take();
  base.always = always.Take();
  return base;
}

Result<std::vector<PageSpan>> PagesToRescan(const RescanBase& baseline, uint64_t total,
                                            const std::vector<PageSpan>& non_present,
                                            const PageWindowReader& reader, uint64_t join_gap) {
  const uint64_t page = static_cast<uint64_t>(getpagesize());
  std::vector<PageSpan> found;  // in no order; sorted and joined at the end
  auto add = [&](uint64_t first, uint64_t end) {
    if (end > first) found.push_back(PageSpan{first, end - first});
  };
  std::vector<PageSpan> holes = baseline.holes;  // the tail past the last extent is one too
  if (total > baseline.end) holes.push_back(PageSpan{baseline.end, total - baseline.end});
  for (const PageSpan& a : baseline.always) add(a.first, std::min(a.end(), total));

  // One walk of the holes beside the non-present spans: a hole's present
  // pages are new; of its non-present ones, those resident (mincore) are
  // new too. A non-present page outside the holes was zapped: punched or
  // truncated.
  std::vector<uint8_t> mc;
  auto resident = [&](uint64_t first, uint64_t end) -> Status {
    constexpr uint64_t kBatch = uint64_t{64} * 1024;
    for (uint64_t at = first; at < end; at += kBatch) {
      const uint64_t len = std::min(kBatch, end - at);
      mc.resize(len);
      KHOD_RETURN_IF_ERROR(Mincore(reader.base() + at * page, len, mc.data()));
      for (uint64_t i = 0; i < len;) {
        if (!(mc[i] & 1)) {
          ++i;
          continue;
        }
        uint64_t j = i + 1;
        while (j < len && (mc[j] & 1)) ++j;
        add(at + i, at + j);
        i = j;
      }
    }
    return Status::Ok();
  };
  size_t n = 0;  // the first non-present span that may reach the hole
  for (const PageSpan& h : holes) {
    uint64_t a = h.first;
    const uint64_t b = std::min(h.end(), total);
    while (n < non_present.size() && non_present[n].end() <= a) ++n;
    for (size_t k = n; a < b && k < non_present.size() && non_present[k].first < b; ++k) {
      const uint64_t s = std::max(a, non_present[k].first), e = std::min(b, non_present[k].end());
      add(a, s);  // present
      KHOD_RETURN_IF_ERROR(resident(s, e));
      a = e;
    }
    add(a, b);  // present
  }
  size_t m = 0;  // the first hole that may reach the span
  for (const PageSpan& np : non_present) {
    uint64_t a = np.first;
    const uint64_t b = std::min(np.end(), total);
    while (m < holes.size() && holes[m].end() <= a) ++m;
    for (size_t k = m; a < b && k < holes.size() && holes[k].first < b; ++k) {
      add(a, std::max(a, holes[k].first));
      a = std::max(a, holes[k].end());
    }
    add(a, b);
  }

  std::sort(found.begin(), found.end(),
            [](const PageSpan& x, const PageSpan& y) { return x.first < y.first; });
  SpanList out(join_gap);
  for (const PageSpan& sp : found) out.Add(sp.first, sp.count);
  return out.Take();
}

}  // namespace khod
