#include "state/folio_list.h"

#include <algorithm>
#include <vector>

#include "common/thread_shares.h"

namespace khod {

FolioList::FolioList(std::initializer_list<FolioExtent> extents) {
  if (extents.size() > 0) node_ = std::make_shared<Node>(Extents(extents));
}

FolioList::FolioList(Extents extents) {
  if (!extents.empty()) node_ = std::make_shared<Node>(std::move(extents));
}

const FolioList::Extents& FolioList::Empty() {
  static const Extents* const kEmpty = new Extents();
  return *kEmpty;
}

uint64_t FolioList::NextVersion() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

FolioList::Extents& FolioList::Mutable() {
  if (!node_) {
    node_ = std::make_shared<Node>();
  } else if (node_.use_count() > 1) {
    node_ = std::make_shared<Node>(node_->extents);
  } else {
    // Only this list holds the array: no one else can be reading it. The
    // count is read relaxed; the fence orders this thread's writes after the
    // reads of a copy another thread has since dropped (its release). GCC
    // refuses a standalone fence under ThreadSanitizer, which does not model
    // one: that build goes without (no path changes a list another thread
    // has just let go of).
#if !defined(__SANITIZE_THREAD__)
    std::atomic_thread_fence(std::memory_order_acquire);
#endif
    node_->version.store(0, std::memory_order_relaxed);
    node_->facts_ready.store(false, std::memory_order_relaxed);
  }
  return node_->extents;
}

uint64_t FolioList::version() const {
  if (!node_) return 0;
  uint64_t v = node_->version.load(std::memory_order_acquire);
  if (v != 0) return v;
  // Copies in other threads may ask at once: the first answer stands.
  const uint64_t mine = NextVersion();
  return node_->version.compare_exchange_strong(v, mine, std::memory_order_acq_rel) ? mine : v;
}

namespace {

// What one pass over [e, end) finds; `prev_end` is where the extent before
// `e` ends (0 at the list's start). Not well formed: every other field 0.
FolioListFacts FactsOfRun(const FolioExtent* e, const FolioExtent* end, uint64_t prev_end) {
  FolioListFacts f;
  for (; e != end; ++e) {
    f.max_order = std::max(f.max_order, e->order);
    // A decoded list is not checked yet: an extent whose end does not fit
    // leaves the sums meaningless, and says so.
    uint64_t last = 0, pfn_end = 0;
    if (e->nr_folios == 0 || e->order >= 64 ||
        (uint64_t{e->nr_folios} << e->order) >> e->order != e->nr_folios ||
        (e->first_index & ((uint64_t{1} << e->order) - 1)) != 0 ||
        __builtin_add_overflow(e->first_index, e->pages(), &last) ||
        (e->first_pfn != kPfnUnknown &&
         __builtin_add_overflow(e->first_pfn, e->pages(), &pfn_end)) ||
        e->first_index < prev_end ||
        // (cannot overflow for disjoint extents whose ends fit; kept as the guard)
        __builtin_add_overflow(f.pages, e->pages(), &f.pages))
      return FolioListFacts{0, 0, 0, 0, false};
    if (e->first_pfn != kPfnUnknown) f.pages_pfn_known += e->pages();
    prev_end = last;
    f.end_index = last;
  }
  return f;
}

// Where `e` ends, for the run after it; 0 when it has no end (the run that
// holds it is then not well formed, and neither is the list).
uint64_t EndOf(const FolioExtent& e) {
  uint64_t end;
  if (e.order >= 64 || (uint64_t{e.nr_folios} << e.order) >> e.order != e.nr_folios ||
      __builtin_add_overflow(e.first_index, e.pages(), &end))
    return 0;
  return end;
}

// Below this many extents a run is not worth a thread of its own.
constexpr size_t kExtentsPerThread = size_t{1} << 16;

}  // namespace

const FolioListFacts& FolioList::facts() const { return WorkOutFacts(1); }

const FolioListFacts& FolioList::WorkOutFacts(int threads) const {
  static const FolioListFacts kNone;
  if (!node_) return kNone;
  Node& n = *node_;
  if (n.facts_ready.load(std::memory_order_acquire)) return n.facts;
  std::lock_guard<std::mutex> lock(n.facts_mu);
  if (n.facts_ready.load(std::memory_order_relaxed)) return n.facts;
  const FolioExtent* x = n.extents.data();
  const size_t size = n.extents.size();
  const size_t shares =
      std::max<size_t>(1, std::min<size_t>(std::max(threads, 1), size / kExtentsPerThread));
  // Run i is [size * i / shares, size * (i + 1) / shares); each checks its
  // first extent against the end of the one before it, so together they
  // check what one pass checks, and their sums add up to its sums.
  std::vector<FolioListFacts> runs(shares);
  (void)RunShares(static_cast<int>(shares), [&](int i) {
    const size_t from = size * i / shares, to = size * (i + 1) / shares;
    runs[i] = FactsOfRun(x + from, x + to, from == 0 ? 0 : EndOf(x[from - 1]));
    return Status::Ok();
  });
  FolioListFacts f = runs[0];
  for (size_t i = 1; i < shares && f.well_formed; ++i) {
    const FolioListFacts& r = runs[i];
    if (!r.well_formed || __builtin_add_overflow(f.pages, r.pages, &f.pages)) {
      f.well_formed = false;
      break;
    }
    f.pages_pfn_known += r.pages_pfn_known;
    f.max_order = std::max(f.max_order, r.max_order);
    if (r.pages > 0) f.end_index = r.end_index;
  }
  if (!f.well_formed) f = FolioListFacts{0, 0, 0, 0, false};
  n.facts = f;
  n.facts_ready.store(true, std::memory_order_release);
  return n.facts;
}

bool FolioList::operator==(const FolioList& o) const {
  if (node_ == o.node_) return true;
  return extents() == o.extents();
}

}  // namespace khod
