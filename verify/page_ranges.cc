#include "verify/page_ranges.h"

#include <algorithm>

namespace khod {

PageRanges Merged(PageRanges r) {
  std::sort(r.begin(), r.end());
  PageRanges out;
  for (const auto& x : r) {
    if (!out.empty() && x.first <= out.back().second)
      out.back().second = std::max(out.back().second, x.second);
    else
      out.push_back(x);
  }
  return out;
}

PageRanges::const_iterator FirstEndingAfter(const PageRanges& r, uint64_t first) {
  return std::upper_bound(
      r.begin(), r.end(), first,
      [](uint64_t p, const std::pair<uint64_t, uint64_t>& x) { return p < x.second; });
}

uint64_t Overlap(const PageRanges& r, uint64_t first, uint64_t end) {
  uint64_t n = 0;
  for (auto it = FirstEndingAfter(r, first); it != r.end() && it->first < end; ++it)
    n += std::min(end, it->second) - std::max(first, it->first);
  return n;
}

}  // namespace khod
