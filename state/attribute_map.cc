#include "state/attribute_map.h"

#include <algorithm>

namespace khod {

void AttributeMap::Set(uint64_t first, uint64_t count, uint64_t value) {
  if (count == 0) return;
  // Saturate: a wrapped end would make a run that ends before it starts. Page
  // 2^64-1 cannot be covered, which no file reaches (invariants bound ranges
  // by the file size).
  const uint64_t last_end = count > UINT64_MAX - first ? UINT64_MAX : first + count;
  if (last_end == first) return;
  // Remove every run intersecting [first, last_end), keeping the parts outside.
  auto it = ranges_.upper_bound(first);
  if (it != ranges_.begin() && std::prev(it)->second.end > first) --it;
  while (it != ranges_.end() && it->first < last_end) {
    const uint64_t s = it->first;
    const Run r = it->second;
    it = ranges_.erase(it);
    if (s < first) ranges_.emplace(s, Run{first, r.value});
    if (r.end > last_end) {
      ranges_.emplace(last_end, Run{r.end, r.value});
      break;
    }
  }
  if (value == 0) return;
  uint64_t start = first, end = last_end;
  // Coalesce with the left neighbour.
  auto right = ranges_.lower_bound(first);
  if (right != ranges_.begin()) {
    auto left = std::prev(right);
    if (left->second.end == first && left->second.value == value) {
      start = left->first;
      ranges_.erase(left);
    }
  }
  // Coalesce with the right neighbour.
  right = ranges_.find(last_end);
  if (right != ranges_.end() && right->second.value == value) {
    end = right->second.end;
    ranges_.erase(right);
  }
  ranges_[start] = Run{end, value};
}

uint64_t AttributeMap::Get(uint64_t page) const {
  auto it = ranges_.upper_bound(page);
  if (it == ranges_.begin()) return 0;
  --it;
  return page < it->second.end ? it->second.value : 0;
}

bool AttributeMap::IsUniform(uint64_t first, uint64_t count, uint64_t value) const {
  if (count == 0) return true;
  const uint64_t last_end = first + count;
  if (value != 0) {
    auto it = ranges_.upper_bound(first);
    if (it == ranges_.begin()) return false;
    --it;
    return it->second.value == value && it->second.end >= last_end;
  }
  // Uniformly 0: no stored range intersects.
  auto it = ranges_.upper_bound(first);
  if (it != ranges_.begin() && std::prev(it)->second.end > first) return false;
  return it == ranges_.end() || it->first >= last_end;
}

void AttributeMap::ForEach(uint64_t first, uint64_t count,
                           const std::function<void(const AttributeRange&)>& fn) const {
  const uint64_t last_end = first + count;
  auto it = ranges_.upper_bound(first);
  if (it != ranges_.begin() && std::prev(it)->second.end > first) --it;
  for (; it != ranges_.end() && it->first < last_end; ++it) {
    uint64_t s = std::max(it->first, first);
    uint64_t e = std::min(it->second.end, last_end);
    if (s < e) fn(AttributeRange{s, e - s, it->second.value});
  }
}

std::vector<AttributeRange> AttributeMap::Ranges() const {
  std::vector<AttributeRange> out;
  out.reserve(ranges_.size());
  for (const auto& [first, run] : ranges_) out.push_back({first, run.end - first, run.value});
  return out;
}

void AttributeMap::Assign(const std::vector<AttributeRange>& ranges) {
  ranges_.clear();
  for (const auto& r : ranges) {
    if (r.count == 0 || r.value == 0) continue;
    if (!ranges_.empty()) {
      auto& last = std::prev(ranges_.end())->second;
      if (last.end == r.first && last.value == r.value) {
        last.end = r.first + r.count;
        continue;
      }
    }
    ranges_.emplace_hint(ranges_.end(), r.first, Run{r.first + r.count, r.value});
  }
}

std::optional<uint64_t> AttributeMap::FirstMalformedRun() const {
  for (const auto& [first, run] : ranges_)
    if (run.end <= first) return first;
  return std::nullopt;
}

uint64_t AttributeMap::end() const {
  return ranges_.empty() ? 0 : std::prev(ranges_.end())->second.end;
}

bool AttributeMap::operator==(const AttributeMap& o) const {
  if (ranges_.size() != o.ranges_.size()) return false;
  auto a = ranges_.begin();
  auto b = o.ranges_.begin();
  for (; a != ranges_.end(); ++a, ++b) {
    if (a->first != b->first || a->second.end != b->second.end ||
        a->second.value != b->second.value)
      return false;
  }
  return true;
}

}  // namespace khod
