// Builds the folio list of one file from runs of folios found in file order:
// a run is appended to the last extent when it continues it in the file and
// in physical memory (or both PFNs are unknown) with equal order and flags.
// A file is kept as its PFN runs, far fewer than its pages.
#ifndef KHOD_CAPTURE_FOLIO_EXTENT_BUILDER_H_
#define KHOD_CAPTURE_FOLIO_EXTENT_BUILDER_H_

#include <cstdint>
#include <vector>

#include "state/snapshot.h"

namespace khod {

class FolioExtentBuilder {
 public:
  // `nr_folios` folios of 2^order pages from file page `index`, PFN `pfn`
  // (kPfnUnknown: not readable). `readable_shared` marks folios whose contents
  // this process may read (mapped shared pages); runs differing in it never merge.
  void AddRun(uint64_t index, uint64_t pfn, uint64_t nr_folios, uint8_t order, uint8_t flags,
              bool readable_shared);

  // What AddRun(x.first_index, x.first_pfn, x.pages(), 0, x.flags, readable)
  // for each extent x of [begin, end) in turn adds, with the extents that
  // join nothing copied as they are instead of one by one: a capture's
  // baseline carried over around the pages that changed (BuddyScanner::
  // ScanSpans), millions of extents on a fragmented host.
  void AddWholeExtents(const FolioExtent* begin, const FolioExtent* end, bool readable_shared);

  // Appends what `tail` built from the pages after this builder's, as if its
  // runs had been added here one by one: only its first extent can join this
  // builder's last; the rest are copied as they are.
  void Append(const FolioExtentBuilder& tail);

  // Starts over from `extents`, every one readable (mapped shared pages).
  void Assign(const FolioList& extents) {
    extents_ = extents;
    readable_shared_.assign(extents.size(), true);
  }

  const FolioList& extents() const { return extents_; }
  // Parallel to extents(): true when the extent's contents may be read.
  const std::vector<bool>& readable_shared() const { return readable_shared_; }
  FolioList TakeExtents() { return std::move(extents_); }
  // Room for `n` extents at once, instead of growing by doubling (each
  // doubling is fresh memory to fault in and a copy).
  void Reserve(size_t n) {
    extents_.reserve(n);
    readable_shared_.reserve(n);
  }
  // Starts over in `room` (its contents dropped, its capacity kept): memory
  // faulted in ahead, instead of Reserve's fresh memory.
  void UseRoom(FolioList::Extents room) {
    const size_t n = room.capacity();
    room.clear();
    extents_.clear();
    extents_.Mutable().swap(room);  // FolioList(Extents) would drop an empty one's capacity
    readable_shared_.clear();
    readable_shared_.reserve(n);
  }

 private:
  FolioList extents_;
  std::vector<bool> readable_shared_;
};

}  // namespace khod

#endif  // KHOD_CAPTURE_FOLIO_EXTENT_BUILDER_H_
