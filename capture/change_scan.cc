#include "capture/change_scan.h"

#include <unistd.h>

#include <algorithm>

#include "capture/capture_threads.h"
#include "capture/flag_reuse.h"
#include "common/status_macros.h"
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

Result<std::vector<PageSpan>> PagesToRescan(const FolioList& baseline, uint64_t total,
                                            const std::vector<PageSpan>& non_present,
                                            const PageWindowReader& reader, uint64_t join_gap) {
  const uint64_t page = static_cast<uint64_t>(getpagesize());
  SpanList out(join_gap);
  std::vector<uint8_t> mc;
  size_t n = 0;  // the first non-present span that may reach `at` or beyond
  // Calls f(first, count, present) for the pieces of [a, b) by presence.
  auto by_presence = [&](uint64_t a, uint64_t b, auto&& f) -> Status {
    while (n < non_present.size() && non_present[n].end() <= a) ++n;
    for (size_t k = n; a < b;) {
      if (k == non_present.size() || non_present[k].first >= b) {
        KHOD_RETURN_IF_ERROR(f(a, b - a, true));
        break;
      }
      const PageSpan& s = non_present[k];
      if (s.first > a) {
        KHOD_RETURN_IF_ERROR(f(a, s.first - a, true));
        a = s.first;
      }
      const uint64_t e = std::min(b, s.end());
      KHOD_RETURN_IF_ERROR(f(a, e - a, false));
      a = e;
      if (e == s.end()) ++k;
    }
    return Status::Ok();
  };
  // A hole of the baseline: a page present here, or resident, is new.
  auto hole = [&](uint64_t a, uint64_t b) -> Status {
    return by_presence(a, b, [&](uint64_t first, uint64_t count, bool present) -> Status {
      if (present) {
        out.Add(first, count);
        return Status::Ok();
      }
      constexpr uint64_t kBatch = uint64_t{64} * 1024;
      for (uint64_t at = first; at < first + count; at += kBatch) {
        const uint64_t len = std::min(kBatch, first + count - at);
        mc.resize(len);
        KHOD_RETURN_IF_ERROR(Mincore(reader.base() + at * page, len, mc.data()));
        for (uint64_t i = 0; i < len;) {
          if (!(mc[i] & 1)) {
            ++i;
            continue;
          }
          uint64_t j = i + 1;
          while (j < len && (mc[j] & 1)) ++j;
          out.Add(at + i, j - i);
          i = j;
        }
      }
      return Status::Ok();
    });
  };
  uint64_t at = 0;
  for (const FolioExtent& e : baseline) {
    if (e.first_index >= total) break;
    const uint64_t end = std::min(total, e.end_index());
    if (e.first_index > at) KHOD_RETURN_IF_ERROR(hole(at, e.first_index));
    if (e.first_pfn == kPfnUnknown || !FlagsStayWhileMapped(e.flags)) {
      out.Add(e.first_index, end - e.first_index);  // read every time, as a full capture does
    } else {
      KHOD_RETURN_IF_ERROR(
          by_presence(e.first_index, end, [&](uint64_t first, uint64_t count, bool present) {
            if (!present) out.Add(first, count);  // zapped: punched or truncated
            return Status::Ok();
          }));
    }
    at = std::max(at, end);
  }
  if (at < total) KHOD_RETURN_IF_ERROR(hole(at, total));
  return out.Take();
}

}  // namespace khod
