// A file's folio list: its FolioExtents in file order, shared between copies.
//
// Copying a FolioList is O(1): copies share one array until one of them is
// changed, which first gives it an array of its own (copy on write). Freeze's
// and Verify's capture of a file that did not change since its baseline takes
// the baseline's list as it is, so what they do per extent of an unchanged
// file is nothing (docs/DESIGN.md "An unchanged file costs nothing per
// extent"): two lists that share their array are equal without a look at one
// extent, and what is known of the array (FolioListFacts) is worked out once
// per array, not once per capture.
//
// Contract: an array is never changed while it is shared; `version()` names
// the contents of an array (two lists with one version have equal extents),
// so a cache keyed by it is never stale. A FolioList, like a std::vector, is
// used by one thread at a time; copies of it may be used by any.
#ifndef KHOD_STATE_FOLIO_LIST_H_
#define KHOD_STATE_FOLIO_LIST_H_

#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <utility>

#include "common/huge_page_allocator.h"

namespace khod {

constexpr uint64_t kPfnUnknown = ~0ull;

// `nr_folios` folios of 2^order pages each, back to back in the file starting
// at page `first_index`, and (unless first_pfn == kPfnUnknown) back to back in
// physical memory starting at `first_pfn`. All share `flags`.
struct FolioExtent {
  uint64_t first_index = 0;
  uint64_t first_pfn = kPfnUnknown;
  uint32_t nr_folios = 0;
  uint8_t order = 0;
  uint8_t flags = 0;

  uint64_t pages() const { return uint64_t{nr_folios} << order; }
  uint64_t end_index() const { return first_index + pages(); }
  bool operator==(const FolioExtent& o) const {
    return first_index == o.first_index && first_pfn == o.first_pfn && nr_folios == o.nr_folios &&
           order == o.order && flags == o.flags;
  }
};

// What one pass over an array finds, kept with the array.
struct FolioListFacts {
  uint64_t pages = 0;            // sum of the extents' pages
  uint64_t pages_pfn_known = 0;  // of them, in extents whose PFN is known
  uint64_t end_index = 0;        // the largest end_index (0 when empty)
  uint8_t max_order = 0;
  // Every extent has folios, an order below 64, an index aligned to it, an
  // end (in the file and in PFNs) that fits in 64 bits, and starts at or
  // after the end of the one before it: the per-extent checks of
  // state/invariants.h that need nothing but the list. When false, every
  // field above is 0.
  bool well_formed = true;
  // A well-formed list every page of which has a known PFN.
  bool all_pfns_known() const { return well_formed && pages_pfn_known == pages; }
};

class FolioList {
 public:
  // Megabytes on a fragmented host (24 bytes a PFN run), built or decoded
  // during the blackout: on huge pages (common/huge_page_allocator.h).
  using Extents = HugePageVector<FolioExtent>;
  using value_type = FolioExtent;
  using const_iterator = Extents::const_iterator;
  using iterator = const_iterator;  // reading only: changes go through Mutable()

  FolioList() = default;
  FolioList(std::initializer_list<FolioExtent> extents);
  explicit FolioList(Extents extents);

  size_t size() const { return node_ ? node_->extents.size() : 0; }
  bool empty() const { return size() == 0; }
  const_iterator begin() const { return extents().begin(); }
  const_iterator end() const { return extents().end(); }
  const FolioExtent& operator[](size_t i) const { return node_->extents[i]; }
  const FolioExtent& front() const { return node_->extents.front(); }
  const FolioExtent& back() const { return node_->extents.back(); }
  const Extents& extents() const { return node_ ? node_->extents : Empty(); }

  // The array to change: this list's own (copied first if it is shared).
  // Every call gives the contents a new version. The reference is for the
  // changes at hand: not to be written through once the list has been
  // copied or asked its version() or facts() (those would not see it).
  Extents& Mutable();
  void push_back(const FolioExtent& e) { Mutable().push_back(e); }
  void reserve(size_t n) { Mutable().reserve(n); }
  void clear() { node_.reset(); }

  // Whether both lists are one array (then they are equal, whatever it holds).
  bool SharesArrayWith(const FolioList& o) const { return node_ == o.node_; }
  // Names the contents: equal versions, equal extents. 0 for an empty list
  // that never had an array.
  uint64_t version() const;
  // Worked out on first use per array (O(extents) once), then O(1).
  const FolioListFacts& facts() const;
  // facts(), worked out now (if not yet) on up to `threads` threads, each a
  // run of the array, the runs' findings added up: what one pass finds. For
  // a list of millions of extents decoded in the blackout.
  const FolioListFacts& WorkOutFacts(int threads) const;

  bool operator==(const FolioList& o) const;
  bool operator!=(const FolioList& o) const { return !(*this == o); }

 private:
  struct Node {
    Node() = default;
    explicit Node(Extents e) : extents(std::move(e)) {}
    Extents extents;
    // 0 until asked for after the last change; facts valid while facts_ready.
    mutable std::atomic<uint64_t> version{0};
    mutable std::atomic<bool> facts_ready{false};
    mutable std::mutex facts_mu;
    mutable FolioListFacts facts;
  };
  static const Extents& Empty();
  static uint64_t NextVersion();

  std::shared_ptr<Node> node_;
};

}  // namespace khod

#endif  // KHOD_STATE_FOLIO_LIST_H_
