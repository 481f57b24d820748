#include "capture/swapped_pages.h"

#include <sys/sysinfo.h>

#include <algorithm>

namespace khod {

bool HostHasSwap() {
  struct sysinfo si;
  // Unknown counts as swap: the look is only a cost.
  return ::sysinfo(&si) != 0 || si.totalswap != 0;
}

std::vector<PageSpan> DataPagesNotSeen(const std::vector<PageSpan>& before,
                                       const std::vector<PageSpan>& after, const FolioList& seen) {
  std::vector<PageSpan> out;
  size_t a = 0, b = 0, e = 0;
  while (a < before.size() && b < after.size()) {
    uint64_t first = std::max(before[a].first, after[b].first);
    const uint64_t end = std::min(before[a].end(), after[b].end());
    // [first, end) holds data in both reads: take out what the scan found.
    while (first < end) {
      while (e < seen.size() && seen[e].end_index() <= first) ++e;
      if (e < seen.size() && seen[e].first_index <= first) {
        first = std::min(end, seen[e].end_index());
        continue;
      }
      const uint64_t stop = e < seen.size() ? std::min(end, seen[e].first_index) : end;
      if (!out.empty() && out.back().end() == first)
        out.back().count += stop - first;
      else
        out.push_back(PageSpan{first, stop - first});
      first = stop;
    }
    if (before[a].end() < after[b].end())
      ++a;
    else
      ++b;
  }
  return out;
}

Status RefuseSwappedOut(const std::string& what, const std::vector<PageSpan>& unseen) {
  if (unseen.empty()) return Status::Ok();
  uint64_t pages = 0;
  for (const PageSpan& s : unseen) pages += s.count;
  std::string ranges;
  for (size_t i = 0; i < unseen.size() && i < 4; ++i)
    ranges += (i ? ", " : "") + std::to_string(unseen[i].first) + ".." +
              std::to_string(unseen[i].end() - 1);
  if (unseen.size() > 4) ranges += ", ...";
  return Status::FailedPrecondition(
      what + ": " + std::to_string(pages) + " pages are out in swap (pages " + ranges +
      "): khod sees neither their PFNs nor their contents and would take them for holes. Keep "
      "the guest's memory resident (mlock it, or start khod with --pin-movable-memory before "
      "Prepare), or bring it back (swapoff, or touch it), and capture again");
}

}  // namespace khod
