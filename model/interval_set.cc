#include "model/interval_set.h"

#include <algorithm>
#include <iterator>

namespace khod {

void IntervalSet::Insert(uint64_t first, uint64_t count) {
  if (count == 0) return;
  Erase(first, count);  // makes total_ exact and the insertion below disjoint
  uint64_t start = first, end = first + count;
  total_ += count;
  auto right = ranges_.lower_bound(first);
  if (right != ranges_.begin()) {
    auto left = std::prev(right);
    if (left->second == first) {
      start = left->first;
      ranges_.erase(left);
    }
  }
  right = ranges_.find(end);
  if (right != ranges_.end()) {
    end = right->second;
    ranges_.erase(right);
  }
  ranges_[start] = end;
}

void IntervalSet::Erase(uint64_t first, uint64_t count) {
  if (count == 0) return;
  const uint64_t last_end = first + count;
  auto it = ranges_.upper_bound(first);
  if (it != ranges_.begin() && std::prev(it)->second > first) --it;
  while (it != ranges_.end() && it->first < last_end) {
    const uint64_t s = it->first, e = it->second;
    it = ranges_.erase(it);
    total_ -= std::min(e, last_end) - std::max(s, first);
    if (s < first) ranges_.emplace(s, first);
    if (e > last_end) {
      ranges_.emplace(last_end, e);
      break;
    }
  }
}

bool IntervalSet::ContainsAll(uint64_t first, uint64_t count) const {
  if (count == 0) return true;
  auto it = ranges_.upper_bound(first);
  if (it == ranges_.begin()) return false;
  --it;
  return it->second >= first + count;
}

bool IntervalSet::ContainsAny(uint64_t first, uint64_t count) const {
  if (count == 0) return false;
  auto it = ranges_.upper_bound(first);
  if (it != ranges_.begin() && std::prev(it)->second > first) return true;
  return it != ranges_.end() && it->first < first + count;
}

void IntervalSet::ForEach(uint64_t first, uint64_t count,
                          const std::function<void(uint64_t, uint64_t)>& fn) const {
  const uint64_t last_end = first + count;
  auto it = ranges_.upper_bound(first);
  if (it != ranges_.begin() && std::prev(it)->second > first) --it;
  for (; it != ranges_.end() && it->first < last_end; ++it) {
    const uint64_t s = std::max(it->first, first), e = std::min(it->second, last_end);
    if (s < e) fn(s, e - s);
  }
}

bool IntervalSet::Lowest(uint64_t* first, uint64_t* count) const {
  if (ranges_.empty()) return false;
  *first = ranges_.begin()->first;
  *count = ranges_.begin()->second - *first;
  return true;
}

}  // namespace khod
