#include "capture/baseline_match.h"

#include <algorithm>
#include <atomic>

#include "common/status_macros.h"
#include "common/thread_shares.h"

namespace khod {

Status WindowMatchesBaseline(const PageWindowReader& reader, const FlagBaseline& baseline,
                             uint64_t first, uint64_t npages, WindowBuffers* w, size_t* cursor,
                             bool* matches) {
  *matches = false;
  KHOD_RETURN_IF_ERROR(reader.ReadPtes(first, npages, w));
  const uint64_t* pm = w->pagemap;
  uint64_t* pfns = w->held;  // the holder's entries are merged into pm already
  for (uint64_t i = 0; i < npages; ++i)
    pfns[i] = PagemapPresent(pm[i]) && PagemapPfn(pm[i]) != 0 ? PagemapPfn(pm[i]) : kPfnUnknown;
  if (!baseline.Matches(first, npages, pfns, w->origin, cursor)) return Status::Ok();
  // A page that exists but is mapped nowhere would be populated (or is
  // private): the baseline has none, so none may exist.
  KHOD_RETURN_IF_ERROR(reader.ReadResidency(first, npages, w));
  for (uint64_t i = 0; i < npages; ++i)
    if (!PagemapPresent(pm[i]) && (w->mincore[i] & 1)) return Status::Ok();
  *matches = true;
  return Status::Ok();
}

Result<bool> FileMatchesBaseline(const PageWindowReader& reader, const FlagBaseline& baseline,
                                 uint64_t total, uint64_t window_pages,
                                 const std::vector<WindowBuffers*>& buffers,
                                 const HwCorruptedCount& hw_count) {
  if (!baseline.usable()) return false;
  const size_t windows = static_cast<size_t>((total + window_pages - 1) / window_pages);
  std::atomic<size_t> next{0};
  std::atomic<bool> differs{false};
  Status s = RunShares(static_cast<int>(buffers.size()), [&](int i) -> Status {
    size_t cursor = 0;
    for (size_t w; !differs && (w = next.fetch_add(1)) < windows;) {
      const uint64_t at = w * window_pages, n = std::min<uint64_t>(window_pages, total - at);
      bool same = false;
      KHOD_RETURN_IF_ERROR(
          WindowMatchesBaseline(reader, baseline, at, n, buffers[i], &cursor, &same));
      if (!same) differs = true;
    }
    return Status::Ok();
  });
  if (!s.ok()) return s;
  if (differs) return false;
  const FolioList& folios = *baseline.folios();
  if (!folios.empty() && folios.back().end_index() > total) return false;  // the file shrank
  Result<uint64_t> hw = hw_count.Get();
  return hw.ok() && *hw == baseline.hw_corrupted_kb();  // rule 4
}

}  // namespace khod
