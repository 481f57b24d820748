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
