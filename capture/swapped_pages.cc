#include "capture/swapped_pages.h"

#include <sys/sysinfo.h>

#include <algorithm>

#include "common/status_macros.h"
#include "kernel/residency.h"
#include "kernel/seek_data.h"

namespace khod {

bool HostHasSwap() {
  struct sysinfo si;
  // Unknown counts as swap: the look is only a cost.
  return ::sysinfo(&si) != 0 || si.totalswap != 0;
}

std::vector<PageSpan> GapsOf(const FolioList& seen, uint64_t total) {
  std::vector<PageSpan> gaps;
  uint64_t at = 0;
  for (const FolioExtent& e : seen) {
    if (e.first_index > at) gaps.push_back(PageSpan{at, e.first_index - at});
    at = std::max(at, e.end_index());
  }
  if (at < total) gaps.push_back(PageSpan{at, total - at});
  return gaps;
}

std::vector<PageSpan> NotResident(const std::vector<PageSpan>& data, uint64_t first_page,
                                  const std::vector<uint8_t>& resident) {
  std::vector<PageSpan> out;
  for (const PageSpan& d : data)
    for (uint64_t p = d.first; p < d.end(); ++p) {
      if (resident[p - first_page] & 1) continue;
      if (!out.empty() && out.back().end() == p)
        ++out.back().count;
      else
        out.push_back(PageSpan{p, 1});
    }
  return out;
}

Result<std::vector<PageSpan>> SwappedOutPages(int fd, const uint8_t* mapping, const FolioList& seen,
                                              uint64_t total, uint64_t page_size) {
  KHOD_ASSIGN_OR_RETURN(std::vector<PageSpan> data,
                        FileDataPagesIn(fd, GapsOf(seen, total), page_size));
  std::vector<PageSpan> out;
  for (const PageSpan& d : data) {
    std::vector<uint8_t> resident(static_cast<size_t>(d.count));
    KHOD_RETURN_IF_ERROR(Mincore(mapping + d.first * page_size, d.count, resident.data()));
    for (const PageSpan& s : NotResident({d}, d.first, resident)) out.push_back(s);
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
