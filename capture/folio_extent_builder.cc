#include "capture/folio_extent_builder.h"

#include <algorithm>
#include <limits>

namespace khod {

void FolioExtentBuilder::AddRun(uint64_t index, uint64_t pfn, uint64_t nr_folios, uint8_t order,
                                uint8_t flags, bool readable_shared) {
  constexpr uint64_t kMaxFolios = std::numeric_limits<uint32_t>::max();
  FolioList::Extents& extents = extents_.Mutable();
  while (nr_folios > 0) {
    if (!extents.empty()) {
      FolioExtent& last = extents.back();
      const bool same_pfn_chain = (last.first_pfn == kPfnUnknown && pfn == kPfnUnknown) ||
                                  (last.first_pfn != kPfnUnknown && pfn != kPfnUnknown &&
                                   last.first_pfn + last.pages() == pfn);
      if (last.end_index() == index && same_pfn_chain && last.order == order &&
          last.flags == flags && readable_shared_.back() == readable_shared &&
          last.nr_folios < kMaxFolios) {
        const uint64_t take = std::min(nr_folios, kMaxFolios - last.nr_folios);
        last.nr_folios += static_cast<uint32_t>(take);
        const uint64_t pages = take << order;
        index += pages;
        if (pfn != kPfnUnknown) pfn += pages;
        nr_folios -= take;
        continue;
      }
    }
    FolioExtent e;
    e.first_index = index;
    e.first_pfn = pfn;
    e.order = order;
    e.flags = flags;
    const uint64_t take = std::min(nr_folios, kMaxFolios);
    e.nr_folios = static_cast<uint32_t>(take);
    extents.push_back(e);
    readable_shared_.push_back(readable_shared);
    const uint64_t pages = take << order;
    index += pages;
    if (pfn != kPfnUnknown) pfn += pages;
    nr_folios -= take;
  }
}

void FolioExtentBuilder::AddWholeExtents(const FolioExtent* begin, const FolioExtent* end,
                                         bool readable_shared) {
  constexpr uint64_t kMaxFolios = std::numeric_limits<uint32_t>::max();
  // Whether AddRun would add `x` as it is: an order-0 extent (AddRun is
  // given pages at order 0) that does not join `prev`, the extent before it.
  auto as_is = [&](const FolioExtent* prev, bool prev_readable, const FolioExtent& x) {
    if (x.order != 0 || x.nr_folios == 0) return false;
    if (prev == nullptr) return true;
    const bool same_pfn_chain = (prev->first_pfn == kPfnUnknown && x.first_pfn == kPfnUnknown) ||
                                (prev->first_pfn != kPfnUnknown && x.first_pfn != kPfnUnknown &&
                                 prev->first_pfn + prev->pages() == x.first_pfn);
    const bool joins = prev->end_index() == x.first_index && same_pfn_chain && prev->order == 0 &&
                       prev->flags == x.flags && prev_readable == readable_shared &&
                       prev->nr_folios < kMaxFolios;
    return !joins;
  };
  const FolioExtent* stretch = begin;  // [stretch, x): to be copied as they are
  auto flush = [&](const FolioExtent* to) {
    if (to == stretch) return;
    FolioList::Extents& extents = extents_.Mutable();
    extents.insert(extents.end(), stretch, to);
    readable_shared_.insert(readable_shared_.end(), static_cast<size_t>(to - stretch),
                            readable_shared);
  };
  for (const FolioExtent* x = begin; x != end; ++x) {
    const bool in_stretch = x != stretch;
    const FolioExtent* prev = in_stretch ? x - 1 : (extents_.empty() ? nullptr : &extents_.back());
    const bool prev_readable =
        in_stretch ? readable_shared : !readable_shared_.empty() && readable_shared_.back();
    if (as_is(prev, prev_readable, *x)) continue;
    flush(x);
    AddRun(x->first_index, x->first_pfn, x->pages(), 0, x->flags, readable_shared);
    stretch = x + 1;
  }
  flush(end);
}

void FolioExtentBuilder::Append(const FolioExtentBuilder& tail) {
  if (tail.extents_.empty()) return;
  const FolioExtent& first = tail.extents_.front();
  AddRun(first.first_index, first.first_pfn, first.nr_folios, first.order, first.flags,
         tail.readable_shared_.front());
  // tail's extents did not join each other, and joining its first to this
  // builder's last changes none of what decides whether the next one joins.
  FolioList::Extents& extents = extents_.Mutable();
  extents.insert(extents.end(), tail.extents_.begin() + 1, tail.extents_.end());
  readable_shared_.insert(readable_shared_.end(), tail.readable_shared_.begin() + 1,
                          tail.readable_shared_.end());
}

}  // namespace khod
