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

uint64_t PageCount(const PageRanges& r) {
  uint64_t n = 0;
  for (const auto& x : r) n += x.second - x.first;
  return n;
}

PageRanges Intersected(const PageRanges& a, const PageRanges& b) {
  PageRanges out;
  for (const auto& x : a)
    for (auto it = FirstEndingAfter(b, x.first); it != b.end() && it->first < x.second; ++it)
      out.push_back({std::max(x.first, it->first), std::min(x.second, it->second)});
  return out;
}

PageRanges Without(const PageRanges& a, const PageRanges& b) {
  PageRanges out;
  for (const auto& x : a) {
    uint64_t at = x.first;
    for (auto it = FirstEndingAfter(b, x.first); it != b.end() && it->first < x.second; ++it) {
      if (it->first > at) out.push_back({at, it->first});
      at = std::max(at, it->second);
    }
    if (at < x.second) out.push_back({at, x.second});
  }
  return out;
}

}  // namespace khod
