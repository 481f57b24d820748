#include "model/filemap.h"

#include <algorithm>
#include <iterator>

namespace khod {

void Filemap::Insert(const FilemapExtent& e) {
  if (e.pages == 0) return;
  extents_[e.first_index] = Ext{e.pages, e.first_pfn, e.order, e.flags};
  Coalesce(e.first_index);
}

bool Filemap::Find(uint64_t index, FilemapExtent* out) const {
  auto it = extents_.upper_bound(index);
  if (it == extents_.begin()) return false;
  --it;
  if (index >= it->first + it->second.pages) return false;
  *out = View(it->first, it->second);
  return true;
}

void Filemap::ForEach(uint64_t first, uint64_t count,
                      const std::function<void(const FilemapExtent&)>& fn) const {
  const uint64_t end = first + count;
  auto it = extents_.upper_bound(first);
  if (it != extents_.begin() && std::prev(it)->first + std::prev(it)->second.pages > first) --it;
  for (; it != extents_.end() && it->first < end; ++it) fn(View(it->first, it->second));
}

void Filemap::ForEachHole(uint64_t first, uint64_t count,
                          const std::function<void(uint64_t, uint64_t)>& fn) const {
  const uint64_t end = first + count;
  uint64_t at = first;
  ForEach(first, count, [&](const FilemapExtent& e) {
    if (e.first_index > at) fn(at, e.first_index - at);
    at = std::max(at, e.end_index());
  });
  if (at < end) fn(at, end - at);
}

void Filemap::CarveAt(uint64_t index) {
  auto it = extents_.upper_bound(index);
  if (it == extents_.begin()) return;
  --it;
  const uint64_t first = it->first;
  Ext& e = it->second;
  if (index == first || index >= first + e.pages) return;
  const uint64_t left = index - first;
  Ext right{e.pages - left, e.first_pfn + left, e.order, e.flags};
  e.pages = left;
  extents_.emplace(index, right);
}

void Filemap::Coalesce(uint64_t first) {
  auto it = extents_.find(first);
  if (it == extents_.end()) return;
  auto same = [](uint64_t a_first, const Ext& a, uint64_t b_first, const Ext& b) {
    return a_first + a.pages == b_first && a.first_pfn + a.pages == b.first_pfn &&
           a.order == b.order && a.flags == b.flags;
  };
  auto next = std::next(it);
  if (next != extents_.end() && same(it->first, it->second, next->first, next->second)) {
    it->second.pages += next->second.pages;
    extents_.erase(next);
  }
  if (it != extents_.begin()) {
    auto prev = std::prev(it);
    if (same(prev->first, prev->second, it->first, it->second)) {
      prev->second.pages += it->second.pages;
      extents_.erase(it);
    }
  }
}

void Filemap::SetOrder(uint64_t first, uint64_t count, uint8_t order) {
  CarveAt(first);
  CarveAt(first + count);
  // After carving, the pages are a run of whole extents; the caller
  // guarantees they are contiguous in PFN, so fold them into one.
  auto it = extents_.find(first);
  if (it == extents_.end()) return;
  Ext merged{0, it->second.first_pfn, order, it->second.flags};
  while (it != extents_.end() && it->first < first + count) {
    merged.pages += it->second.pages;
    it = extents_.erase(it);
  }
  extents_.emplace(first, merged);
  Coalesce(first);
}

void Filemap::Remove(uint64_t first, uint64_t count) {
  CarveAt(first);
  CarveAt(first + count);
  auto it = extents_.lower_bound(first);
  while (it != extents_.end() && it->first < first + count) it = extents_.erase(it);
}

}  // namespace khod
