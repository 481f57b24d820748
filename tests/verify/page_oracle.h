// A page-by-page oracle of what DiffGmems (verify/snapshot_diff.h) must say of
// two guest_memfds, and a seeded generator of pairs to ask it about. Used by
// tests/verify/snapshot_diff_oracle_test.cc (seeds) and
// fuzz/snapshot_diff_fuzzer.cc (libFuzzer bytes).
//
// The oracle is written from the documented rules, not from the code it
// checks: it expands both files to one record per page (resident or hole, PFN
// where seen, order, flags, visibility, the hash that covers it, attribute
// word), calls each page equal, different or not verified, and holds
// DiffGmems' counts, page ranges and not-verified parts to that. It uses
// nothing of verify/ but the types (not CombinedVisibility, not MatchHashes).
//
// The rules, per page p of [0, N), N the larger file's pages, M the smaller's
// (verify/snapshot_diff.h, docs/FORMAT.md "Observation", docs/OPERATIONS.md
// unverified kinds):
//  - size: p >= M is on one side only: different.
//  - attributes: the VMM's declaration, compared wherever declared (DESIGN.md
//    "a change is a difference"), whatever the visibility: words that differ
//    are different.
//  - visibility V(p): the worse of the two sides' (kFull < kInitializedOnly <
//    kNone); past a side's list (or an empty list) kFull.
//  - folios: V kNone compares nothing. V kInitializedOnly compares only
//    residency (a punch there is a difference). V kFull: resident on one side
//    only is different; resident on both: a different order is different (a
//    HugeTLB order is its hstate's, known without a PFN: snapshot_diff_test
//    UnreadFlagsOfUnknownPfnsAreNotCompared; the header's "only that it is
//    resident is compared" is read as "not its PFN nor flags", the order
//    being the folio list's own); a PFN either side did not see leaves PFN
//    and flags not verified; else a different PFN (compare_pfns) or flags
//    (compare_folio_flags) is different.
//  - contents: a hash is compared only with one of the other side over the
//    very same pages; a pair whose xxh3 differ makes its whole range
//    different. A pair is compared only over pages V kFull on every page
//    ("only what both sides observed is compared"); one that is not is no
//    pair: both its hashes are alone.
//  - which pages are not verified, of those not different: V not kFull
//    (kPagesPrivate for kInitializedOnly, kPagesInvisible for kNone); else
//    resident on both with a PFN either did not see, where PFNs or flags are
//    compared (kPfnsUnseen, by which side); else, where both captures hashed
//    the file, pages under a hash of either side with no pair (kPfnsUnseen
//    "contents ..." where a PFN was unseen there, else kContentsCutOtherwise).
//    The rest are equal.
//  - a capture "hashed the file" when it holds any content hash of it
//    (OPERATIONS.md UNVERIFIED_CONTENTS_NOT_HASHED: "one capture or neither
//    hashed (attached, frozen or captured without --hash)", "named once per
//    file"; a capture with --hash hashes every extent it reads). Where one or
//    neither did, no hash is compared, and a kernel file (the expected
//    side's provenance) counts its initialized pages observed in full (the
//    expected side's resident pages with V kFull), not different and not
//    counted not verified otherwise, as not verified, kContentsNotHashed: a
//    page is equal only when all of it was compared.
//    Documented ambiguity: where both hashed the file, a resident page V kFull
//    that neither hashed (no real capture makes one: it hashes every extent
//    it reads) is counted equal; whether it should be named NOT_HASHED the
//    docs do not settle ("pages ... that one capture or neither hashed" vs
//    "named once per file"): the oracle asks for no part for it.
//  - kDeclaredAttributes: named where either side is a kernel file with
//    attributes (DESIGN.md, OPERATIONS.md); it counts no page.
//  - the parts' page numbers: each page part names pages counted not
//    verified, but kPfnsUnseen's "contents of N pages ... where a capture saw
//    no PFN" says what else of pages was not compared, pages its "N pages:
//    resident on both sides ..." part may name already (the docs give the
//    parts no sum; UnverifiedGmem::pages is the count). Followed as the
//    implementation writes it: the oracle counts that part's pages apart.
//
// Found with it (fixed in verify/snapshot_diff.cc, regression test
// SnapshotDiffHashTest.AHashOverPagesTheOtherSideDidNotObserveInFullComparesNothing):
// a hash reaching pages the other side did not observe in full was dropped
// before matching, so its pages observed in full were counted equal with
// nothing naming them, and a capture all of whose hashes did so counted as
// not having hashed the file.
//
// The generator varies only the per-page parts (folios, visibility, hashes,
// attributes, and HugeTLB restructure records only as its split folios need
// them); names, flags, policies and memslots stay equal
// (tests/verify/diff_coverage_test.cc covers those).
//
// DiffOptions: compare_pfns and compare_folio_flags are varied one at a time
// (never both off: what "PFN not seen" would leave unverified then is not
// documented).
#ifndef KHOD_TESTS_VERIFY_PAGE_ORACLE_H_
#define KHOD_TESTS_VERIFY_PAGE_ORACLE_H_

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "common/hex.h"
#include "state/invariants.h"
#include "state/snapshot.h"
#include "verify/snapshot_diff.h"

namespace khod {
namespace page_oracle {

constexpr uint32_t kPageSize = 4096;

inline uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Where the generator's choices come from: a seed (splitmix64), or a
// fuzzer's bytes (each choice reads the bytes it needs, zeros past the end).
// Fresh() makes new values (PFN bases, contents) without reading input.
class Choices {
 public:
  explicit Choices(uint64_t seed) : state_(Mix(seed)) {}
  Choices(const uint8_t* data, size_t size) : bytes_(data), size_(size), from_bytes_(true) {}

  // Uniform in [0, n) (0 when n <= 1).
  uint64_t Below(uint64_t n) {
    if (n <= 1) return 0;
    if (!from_bytes_) return Mix(state_++) % n;
    const int nbytes = n <= 0x100 ? 1 : n <= 0x10000 ? 2 : n <= 0x100000000ull ? 4 : 8;
    uint64_t v = 0;
    for (int i = 0; i < nbytes; ++i) v = v << 8 | (pos_ < size_ ? bytes_[pos_++] : 0);
    return v % n;
  }
  uint64_t In(uint64_t lo, uint64_t hi) { return lo + Below(hi - lo + 1); }
  bool Percent(uint64_t p) { return Below(100) < p; }
  uint64_t Fresh() { return Mix(0x5eed0000 + ++fresh_); }

 private:
  uint64_t state_ = 0;
  const uint8_t* bytes_ = nullptr;
  size_t size_ = 0, pos_ = 0;
  bool from_bytes_ = false;
  uint64_t fresh_ = 0;
};

// ---------------------------------------------------------------------------
// The generator: a file as pages and folios, mutated, then written as a
// GuestMemfd that passes CheckGmem (state/invariants.h).

struct Folio {
  uint8_t order = 0;
  uint64_t pfn = kPfnUnknown;  // of its first page
  uint8_t flags = 0;
};

struct Model {
  uint64_t pages = 0;
  bool hugetlb = false;
  uint8_t hstate = 0;  // HugeTLB: pages per huge folio = 1 << hstate
  Provenance provenance = Provenance::kKernel;
  FileKind kind = FileKind::kGuestMemfd;
  bool vis_listed = false;           // false: an empty visibility list (every page kFull)
  std::vector<PageVisibility> vis;   // per page
  std::map<uint64_t, Folio> folios;  // by first page
  std::vector<uint64_t> content;     // per page; 0 where no page
  std::vector<std::pair<uint64_t, uint64_t>> hashes;  // [first, end), ordered, disjoint
  std::vector<uint64_t> attr;                         // per page
  uint64_t cut_salt = 0;  // extents cut where they need not be (0: maximal extents)

  uint64_t block() const { return hugetlb ? uint64_t{1} << hstate : 1; }
  uint64_t FolioEnd(std::map<uint64_t, Folio>::const_iterator it) const {
    return it->first + (uint64_t{1} << it->second.order);
  }
};

inline uint64_t NewPfn(Choices& r, uint64_t pages) {
  // Below 2^40, aligned to `pages` (a power of two), never kPfnUnknown.
  return (r.Fresh() % (uint64_t{1} << 40)) & ~(pages - 1);
}

// Folios overlapping [first, end) removed whole.
inline void RemoveFolios(Model& m, uint64_t first, uint64_t end) {
  for (auto it = m.folios.begin(); it != m.folios.end();) {
    if (it->first < end && first < m.FolioEnd(it))
      it = m.folios.erase(it);
    else
      ++it;
  }
}

inline bool Resident(const Model& m, uint64_t p) {
  auto it = m.folios.upper_bound(p);
  if (it == m.folios.begin()) return false;
  --it;
  return p < m.FolioEnd(it);
}

// Sub-folios filling one huge folio at `first` of order `hstate`, each of an
// order below it, PFNs following `pfn` (unknown stays unknown).
inline void SplitBlock(Model& m, uint64_t first, uint64_t pfn, uint8_t flags, Choices& r) {
  const uint64_t n = m.block();
  for (uint64_t off = 0; off < n;) {
    uint8_t order = 0;
    // The largest order below hstate that `off` is aligned to and that fits.
    uint8_t top = 0;
    while (top + 1 < m.hstate && off % (uint64_t{1} << (top + 1)) == 0 &&
           off + (uint64_t{1} << (top + 1)) <= n)
      ++top;
    order = static_cast<uint8_t>(r.Below(top + 1u));
    m.folios[first + off] = Folio{order, pfn == kPfnUnknown ? kPfnUnknown : pfn + off, flags};
    off += uint64_t{1} << order;
  }
}

// New resident folios over the holes of [first, end) (block aligned).
inline void PlaceFolios(Model& m, uint64_t first, uint64_t end, int density, bool pfns_known,
                        Choices& r) {
  const uint64_t b = m.block();
  uint64_t run_pfn = kPfnUnknown;
  for (uint64_t p = first; p + b <= end; p += b) {
    bool empty = true;
    for (uint64_t q = p; q < p + b && empty; ++q) empty = !Resident(m, q);
    if (!empty || !r.Percent(density)) {
      run_pfn = kPfnUnknown;
      continue;
    }
    uint64_t pfn = kPfnUnknown;
    if (pfns_known) {
      pfn = run_pfn != kPfnUnknown && r.Percent(75) ? run_pfn : NewPfn(r, b);
      run_pfn = pfn + b;
    }
    const uint8_t flags = r.Percent(85)   ? kFolioUptodate
                          : r.Percent(50) ? static_cast<uint8_t>(kFolioUptodate | kFolioDirty)
                                          : 0;
    if (m.hugetlb && r.Percent(20))
      SplitBlock(m, p, pfn, flags, r);
    else
      m.folios[p] = Folio{m.hstate, pfn, flags};
    for (uint64_t q = p; q < p + b; ++q) m.content[q] = r.Fresh() | 1;
  }
}

inline bool AllFull(const Model& m, uint64_t first, uint64_t end) {
  for (uint64_t p = first; p < end; ++p)
    if (m.vis[p] != PageVisibility::kFull) return false;
  return true;
}

inline bool CutAt(const Model& m, uint64_t index) {
  return m.cut_salt != 0 && (Mix(m.cut_salt ^ index) & 3) == 0;
}

// The folio list as a capture writes it: folios that follow each other in the
// file and in PFNs (or both unseen), of one order and flags, in one extent,
// but where cut_salt cuts.
inline FolioList Extents(const Model& m) {
  FolioList out;
  for (auto it = m.folios.begin(); it != m.folios.end(); ++it) {
    const Folio& f = it->second;
    if (!out.empty()) {
      const FolioExtent& last = out.back();
      const bool pfn_follows = last.first_pfn == kPfnUnknown
                                   ? f.pfn == kPfnUnknown
                                   : f.pfn != kPfnUnknown && last.first_pfn + last.pages() == f.pfn;
      // A split huge folio's pieces are described by its own restructure
      // record: no extent of them crosses into the next huge folio.
      const bool new_block = m.hugetlb && f.order < m.hstate && it->first % m.block() == 0;
      if (last.end_index() == it->first && last.order == f.order && last.flags == f.flags &&
          pfn_follows && !new_block && !CutAt(m, it->first)) {
        ++out.Mutable().back().nr_folios;
        continue;
      }
    }
    out.push_back(FolioExtent{it->first, f.pfn, 1, f.order, f.flags});
  }
  return out;
}

// Hash ranges as a capture with --hash makes them: one per extent it reads
// (every extent in pages observed in full).
inline void Rehash(Model& m) {
  m.hashes.clear();
  for (const FolioExtent& x : Extents(m))
    if (AllFull(m, x.first_index, x.end_index()))
      m.hashes.push_back({x.first_index, x.end_index()});
}

inline uint64_t HashValue(const Model& m, uint64_t first, uint64_t end) {
  uint64_t h = Mix(first * 1000003 + (end - first));
  for (uint64_t p = first; p < end; ++p) h = Mix(h ^ m.content[p]);
  return h;
}

// What a capture could not have recorded, taken out: extents in kNone pages,
// known PFNs in kInitializedOnly pages, hashes in pages not observed in full,
// a split HugeTLB folio not wholly allocated.
inline void Sanitize(Model& m) {
  for (auto it = m.folios.begin(); it != m.folios.end();) {
    bool none = false;
    for (uint64_t p = it->first; p < m.FolioEnd(it) && !none; ++p)
      none = p >= m.pages || m.vis[p] == PageVisibility::kNone;
    it = none ? m.folios.erase(it) : std::next(it);
  }
  if (m.hugetlb) {
    for (uint64_t b = 0; b < m.pages; b += m.block()) {
      bool split = false, whole = true;
      for (auto it = m.folios.lower_bound(b); it != m.folios.end() && it->first < b + m.block();
           ++it)
        split |= it->second.order < m.hstate;
      for (uint64_t p = b; p < b + m.block(); ++p) whole &= Resident(m, p);
      if (split && !whole) RemoveFolios(m, b, b + m.block());
    }
  }
  for (auto it = m.folios.begin(); it != m.folios.end(); ++it)
    if (!AllFull(m, it->first, m.FolioEnd(it))) it->second.pfn = kPfnUnknown, it->second.flags = 0;
  for (uint64_t p = 0; p < m.pages; ++p)
    if (!Resident(m, p)) m.content[p] = 0;
  std::vector<std::pair<uint64_t, uint64_t>> kept;
  for (const auto& h : m.hashes)
    if (h.first < h.second && h.second <= m.pages && AllFull(m, h.first, h.second) &&
        (kept.empty() || kept.back().second <= h.first))
      kept.push_back(h);
  m.hashes = std::move(kept);
  for (uint64_t p = 0; p < m.pages; ++p) m.vis_listed |= m.vis[p] != PageVisibility::kFull;
}

inline GuestMemfd ToGmem(const Model& m) {
  GuestMemfd g;
  g.token = 0x2a;
  g.inode = 77;
  g.name = "ram0";
  g.provenance = m.provenance;
  g.kind = m.kind;
  g.size = m.pages * kPageSize;
  g.backing = m.hugetlb ? Backing::kHugetlb : Backing::kBuddy;
  g.hstate_order = m.hugetlb ? m.hstate : 0;
  if (m.vis_listed)
    for (uint64_t p = 0; p < m.pages; ++p) {
      if (!g.visibility.empty() && g.visibility.back().visibility == m.vis[p] && !CutAt(m, p))
        ++g.visibility.back().count;
      else
        g.visibility.push_back(VisibilityRange{p, 1, m.vis[p]});
    }
  g.folios = Extents(m);
  for (const auto& [first, end] : m.hashes)
    g.hashes.push_back(ContentHash{first, end - first, HashValue(m, first, end)});
  for (uint64_t p = 0; p < m.pages;) {
    uint64_t q = p + 1;
    while (q < m.pages && m.attr[q] == m.attr[p]) ++q;
    if (m.attr[p]) g.attributes.Set(p, q - p, m.attr[p]);
    p = q;
  }
  if (m.hugetlb)
    for (uint64_t b = 0; b < m.pages; b += m.block()) {
      RestructureRecord rec;
      rec.index = b;
      rec.original_order = m.hstate;
      for (auto it = m.folios.lower_bound(b); it != m.folios.end() && it->first < b + m.block();
           ++it) {
        const uint32_t offset = static_cast<uint32_t>(it->first - b);
        const uint8_t order = it->second.order;
        if (!rec.layout.empty() && rec.layout.back().order == order &&
            rec.layout.back().offset + (uint64_t{rec.layout.back().count} << order) == offset)
          ++rec.layout.back().count;
        else
          rec.layout.push_back(SplitRun{offset, 1, order});
      }
      if (rec.layout.size() > 1 || (rec.layout.size() == 1 && rec.layout[0].order < m.hstate))
        g.restructures.push_back(rec);
    }
  return g;
}

inline Model RandomModel(Choices& r) {
  Model m;
  m.hugetlb = r.Percent(25);
  if (m.hugetlb) {
    m.hstate = static_cast<uint8_t>(r.In(1, 3));
    m.pages = r.In(1, 48) << m.hstate;
    m.kind = FileKind::kHugetlbMemfd;
  } else {
    m.pages = r.Percent(10) ? r.In(1, 8) : r.In(1, r.Percent(20) ? 600 : 160);
    m.kind = r.Percent(60) ? FileKind::kGuestMemfd : FileKind::kShmemMemfd;
  }
  m.provenance = r.Percent(80)   ? Provenance::kKernel
                 : r.Percent(70) ? Provenance::kModel
                                 : Provenance::kSynthetic;
  m.vis.assign(m.pages, PageVisibility::kFull);
  m.content.assign(m.pages, 0);
  m.attr.assign(m.pages, 0);
  if (r.Percent(35)) {
    // A few ranges, each of one visibility.
    const uint64_t b = m.block(), blocks = m.pages / b;
    uint64_t at = 0;
    while (at < blocks) {
      const uint64_t len = r.In(1, std::max<uint64_t>(1, blocks / 2));
      const uint64_t end = std::min(blocks, at + len);
      const uint64_t v = r.Below(10);
      const PageVisibility pv = v < 5   ? PageVisibility::kFull
                                : v < 8 ? PageVisibility::kInitializedOnly
                                        : PageVisibility::kNone;
      for (uint64_t p = at * b; p < end * b; ++p) m.vis[p] = pv;
      at = end;
    }
  }
  m.vis_listed = r.Percent(50);
  const bool pfns_known = !r.Percent(15);
  PlaceFolios(m, 0, m.pages, static_cast<int>(r.In(0, 100)), pfns_known, r);
  if (pfns_known && r.Percent(15))  // some PFNs unseen
    for (auto& [index, f] : m.folios)
      if (r.Percent(30)) f.pfn = kPfnUnknown, f.flags = 0;
  if (r.Percent(30)) m.cut_salt = r.Fresh() | 1;
  if (r.Percent(20)) {
    const uint64_t b = m.block();
    for (int i = static_cast<int>(r.In(1, 3)); i > 0; --i) {
      const uint64_t first = r.Below(m.pages / b) * b;
      const uint64_t end = std::min(m.pages, first + r.In(1, 4) * b * r.In(1, 8));
      const uint64_t value = r.Percent(80) ? kAttrPrivate : uint64_t{1} << r.In(0, 5);
      for (uint64_t p = first; p < end; ++p) m.attr[p] = value;
    }
  }
  Sanitize(m);
  if (r.Percent(60)) Rehash(m);
  return m;
}

enum Mutation {
  kPunch,
  kNewPages,
  kPfnMove,
  kFlagsChange,
  kSplitMerge,
  kNarrowVisibility,
  kWidenVisibility,
  kRecutHashes,
  kChangeContents,
  kDropHashes,
  kRehash,
  kPfnsUnseen,
  kPfnsRevealed,
  kUnprivilegedCapture,
  kGrow,
  kAttributes,
  kRecutExtents,
  kMutations
};

inline const char* MutationName(int m) {
  static const char* const kNames[kMutations] = {
      "punch",      "new-pages",    "pfn-move",      "flags",          "split-merge",
      "narrow-vis", "widen-vis",    "recut-hashes",  "change-content", "drop-hashes",
      "rehash",     "pfns-unseen",  "pfns-revealed", "unprivileged",   "grow",
      "attributes", "recut-extents"};
  return m >= 0 && m < kMutations ? kNames[m] : "?";
}

// A random block-aligned range [first, end) of the file.
inline std::pair<uint64_t, uint64_t> RandomRange(const Model& m, Choices& r) {
  const uint64_t b = m.block(), blocks = m.pages / b;
  const uint64_t first = r.Below(blocks);
  const uint64_t len = r.Percent(50) ? 1 : r.In(1, std::max<uint64_t>(1, blocks - first));
  return {first * b, std::min(blocks, first + len) * b};
}

// A random folio (by first page); m.folios.end() when there is none.
inline std::map<uint64_t, Folio>::iterator RandomFolio(Model& m, Choices& r) {
  if (m.folios.empty()) return m.folios.end();
  auto it = m.folios.lower_bound(r.Below(m.pages));
  return it == m.folios.end() ? m.folios.begin() : it;
}

// Applies `what` to `m`; appends what it did to `log`.
inline void Mutate(Model& m, int what, Choices& r, std::string* log) {
  const uint64_t b = m.block();
  std::string note;
  switch (what) {
    case kPunch: {
      const auto [first, end] = RandomRange(m, r);
      RemoveFolios(m, first, end);
      if (r.Percent(50)) {  // hashes over the punched pages dropped, else left over the holes
        std::vector<std::pair<uint64_t, uint64_t>> kept;
        for (const auto& h : m.hashes)
          if (!(h.first < end && first < h.second)) kept.push_back(h);
        m.hashes = std::move(kept);
      }
      note = std::to_string(first) + "-" + std::to_string(end - 1);
      break;
    }
    case kNewPages: {
      const auto [first, end] = RandomRange(m, r);
      PlaceFolios(m, first, end, 100, !r.Percent(15), r);
      if (!m.hashes.empty() && r.Percent(70)) {
        // The new extents hashed, where no hash lies yet.
        for (const FolioExtent& x : Extents(m)) {
          if (x.end_index() <= first || x.first_index >= end) continue;
          bool free = true;
          for (const auto& h : m.hashes)
            free &= !(h.first < x.end_index() && x.first_index < h.second);
          if (free) m.hashes.push_back({x.first_index, x.end_index()});
        }
        std::sort(m.hashes.begin(), m.hashes.end());
      }
      note = std::to_string(first) + "-" + std::to_string(end - 1);
      break;
    }
    case kPfnMove: {
      auto it = RandomFolio(m, r);
      if (it == m.folios.end()) break;
      it->second.pfn = NewPfn(r, uint64_t{1} << it->second.order);
      note = std::to_string(it->first);
      break;
    }
    case kFlagsChange: {
      const auto [first, end] = RandomRange(m, r);
      const uint8_t x = r.Percent(70) ? kFolioDirty : kFolioUptodate;
      for (auto& [index, f] : m.folios)
        if (index >= first && index < end) f.flags ^= x;
      note = std::to_string(first) + "-" + std::to_string(end - 1);
      break;
    }
    case kSplitMerge: {
      if (!m.hugetlb || m.hstate == 0) break;
      const uint64_t blk = r.Below(m.pages / b) * b;
      auto it = m.folios.find(blk);
      if (it == m.folios.end()) break;
      if (it->second.order == m.hstate) {
        const Folio f = it->second;
        m.folios.erase(it);
        SplitBlock(m, blk, f.pfn, f.flags, r);
        note = "split " + std::to_string(blk);
      } else {
        const Folio f = it->second;
        RemoveFolios(m, blk, blk + b);
        m.folios[blk] = Folio{m.hstate, r.Percent(70) ? f.pfn : NewPfn(r, b), f.flags};
        note = "merge " + std::to_string(blk);
      }
      break;
    }
    case kNarrowVisibility: {
      const auto [first, end] = RandomRange(m, r);
      const PageVisibility v =
          r.Percent(60) ? PageVisibility::kInitializedOnly : PageVisibility::kNone;
      for (uint64_t p = first; p < end; ++p) m.vis[p] = std::max(m.vis[p], v);
      note = std::to_string(first) + "-" + std::to_string(end - 1) + " " + PageVisibilityName(v);
      break;
    }
    case kWidenVisibility: {
      const auto [first, end] = RandomRange(m, r);
      for (uint64_t p = first; p < end; ++p) m.vis[p] = PageVisibility::kFull;
      note = std::to_string(first) + "-" + std::to_string(end - 1);
      break;
    }
    case kRecutHashes: {
      if (m.hashes.empty()) break;
      const size_t i = static_cast<size_t>(r.Below(m.hashes.size()));
      auto& h = m.hashes[i];
      if (h.second - h.first > 1 && (i + 1 == m.hashes.size() || r.Percent(50))) {
        const uint64_t at = r.In(h.first + 1, h.second - 1);
        const std::pair<uint64_t, uint64_t> tail{at, h.second};
        h.second = at;
        m.hashes.insert(m.hashes.begin() + static_cast<long>(i) + 1, tail);
        note = "split at " + std::to_string(at);
      } else if (i + 1 < m.hashes.size()) {
        h.second = m.hashes[i + 1].second;
        m.hashes.erase(m.hashes.begin() + static_cast<long>(i) + 1);
        note = "joined at " + std::to_string(h.first);
      }
      break;
    }
    case kChangeContents: {
      auto it = RandomFolio(m, r);
      if (it == m.folios.end()) break;
      const uint64_t p = it->first + r.Below(uint64_t{1} << it->second.order);
      m.content[p] = r.Fresh() | 1;
      note = std::to_string(p);
      break;
    }
    case kDropHashes: {
      if (m.hashes.empty()) break;
      if (r.Percent(40)) {
        m.hashes.clear();
        note = "all";
      } else {
        const size_t i = static_cast<size_t>(r.Below(m.hashes.size()));
        note = std::to_string(m.hashes[i].first);
        m.hashes.erase(m.hashes.begin() + static_cast<long>(i));
      }
      break;
    }
    case kRehash: {
      Sanitize(m);  // hashes per extent of what this capture saw
      if (r.Percent(20)) {
        m.hashes.clear();
        note = "none";
      } else {
        Rehash(m);
      }
      break;
    }
    case kPfnsUnseen: {
      const bool all = r.Percent(50);
      const auto [first, end] = all ? std::make_pair(uint64_t{0}, m.pages) : RandomRange(m, r);
      const bool keep_flags = r.Percent(30);
      for (auto it = m.folios.begin(); it != m.folios.end(); ++it)
        if (it->first < end && first < m.FolioEnd(it)) {
          it->second.pfn = kPfnUnknown;
          if (!keep_flags) it->second.flags = 0;
        }
      note = std::to_string(first) + "-" + std::to_string(end - 1);
      break;
    }
    case kPfnsRevealed: {
      for (auto& [index, f] : m.folios)
        if (f.pfn == kPfnUnknown)
          f.pfn = NewPfn(r, uint64_t{1} << f.order), f.flags = kFolioUptodate;
      break;
    }
    case kUnprivilegedCapture: {
      // pagemap without CAP_SYS_ADMIN: no PFN, flags unread; extents join
      // across physical breaks, and are hashed so.
      for (auto& [index, f] : m.folios) f.pfn = kPfnUnknown, f.flags = 0;
      if (!m.hashes.empty()) {
        Sanitize(m);
        Rehash(m);
      }
      break;
    }
    case kGrow: {
      const uint64_t add = r.In(1, m.hugetlb ? 4 : 40) * b;
      const uint64_t old = m.pages;
      m.pages += add;
      const PageVisibility v = r.Percent(60)          ? PageVisibility::kFull
                               : old && r.Percent(50) ? m.vis[old - 1]
                                                      : static_cast<PageVisibility>(r.Below(3));
      m.vis.resize(m.pages, v);
      m.content.resize(m.pages, 0);
      m.attr.resize(m.pages, 0);
      PlaceFolios(m, old, m.pages, static_cast<int>(r.In(0, 100)), !r.Percent(15), r);
      if (!m.hashes.empty())
        for (const FolioExtent& x : Extents(m))
          if (x.first_index >= old) m.hashes.push_back({x.first_index, x.end_index()});
      note = "+" + std::to_string(add);
      break;
    }
    case kAttributes: {
      const auto [first, end] = RandomRange(m, r);
      const uint64_t value = r.Percent(40) ? 0 : r.Percent(75) ? kAttrPrivate : uint64_t{1} << 1;
      for (uint64_t p = first; p < end; ++p) m.attr[p] = value;
      note = std::to_string(first) + "-" + std::to_string(end - 1) + "=" + Hex(value);
      break;
    }
    case kRecutExtents:
      m.cut_salt = r.Percent(20) ? 0 : r.Fresh() | 1;
      break;
  }
  if (log)
    *log += std::string(log->empty() ? "" : ", ") + MutationName(what) +
            (note.empty() ? "" : " " + note);
}

struct Case {
  GuestMemfd expected, found;
  DiffOptions opts;
  std::string mutations;  // what made one side from the other
  bool swapped = false;   // expected is the mutated side
  std::vector<int> applied;
};

inline Case RandomCase(Choices& r) {
  Model a = RandomModel(r), b = a;
  Case c;
  const int n = r.Percent(20) ? 0 : static_cast<int>(r.In(1, 4));
  for (int i = 0; i < n; ++i) {
    const int what = static_cast<int>(r.Below(kMutations));
    c.applied.push_back(what);
    Mutate(b, what, r, &c.mutations);
  }
  Sanitize(b);
  c.swapped = r.Percent(50);
  c.expected = ToGmem(c.swapped ? b : a);
  c.found = ToGmem(c.swapped ? a : b);
  const uint64_t o = r.Below(20);
  if (o == 0) c.opts.compare_pfns = false;
  if (o == 1) c.opts.compare_folio_flags = false;
  c.opts.show_pfns = !r.Percent(20);
  c.opts.compare_inodes = !r.Percent(10);
  return c;
}

// Violations of state/invariants.h by the generator ("" when none).
inline std::string GeneratorProblem(const GuestMemfd& g) {
  std::vector<Violation> v;
  CheckGmem(g, kPageSize, &v);
  std::string s;
  for (const Violation& x : v) s += x.where + ": " + x.what + "; ";
  return s;
}

// ---------------------------------------------------------------------------
// The oracle.

struct PageRecord {
  bool resident = false;
  uint64_t pfn = kPfnUnknown;
  uint8_t order = 0, flags = 0;
  PageVisibility vis = PageVisibility::kFull;
  long hash = -1;  // index in the side's hashes
  uint64_t attr = 0;
};

// One record per page of [0, n): past the file's end (or its visibility
// list) kFull, holes, no attribute.
inline std::vector<PageRecord> Expand(const GuestMemfd& g, uint64_t n) {
  std::vector<PageRecord> out(n);
  for (const VisibilityRange& v : g.visibility)
    for (uint64_t p = v.first_index; p < v.end_index() && p < n; ++p) out[p].vis = v.visibility;
  for (const FolioExtent& x : g.folios)
    for (uint64_t p = x.first_index; p < x.end_index() && p < n; ++p) {
      PageRecord& rec = out[p];
      rec.resident = true;
      rec.pfn = x.first_pfn == kPfnUnknown ? kPfnUnknown : x.first_pfn + (p - x.first_index);
      rec.order = x.order;
      rec.flags = x.flags;
    }
  for (size_t i = 0; i < g.hashes.size(); ++i)
    for (uint64_t p = g.hashes[i].first_index;
         p < g.hashes[i].first_index + g.hashes[i].count && p < n; ++p)
      if (out[p].hash < 0) out[p].hash = static_cast<long>(i);
  for (uint64_t p = 0; p < n; ++p) out[p].attr = g.attributes.Get(p);
  return out;
}

enum class Call { kEqual, kDifferent, kUnverified };

// What the oracle says of one page.
struct PageCall {
  bool size = false, folios = false, attributes = false, contents = false;  // different by
  Call call = Call::kEqual;
  UnverifiedKind why = UnverifiedKind::kUnspecified;  // kUnverified: which part names it
  int pfn_unseen_by = 0;                              // 1: expected, 2: found (both: 3)
  bool not_hashed = false;                            // kUnverified as kContentsNotHashed
  PageVisibility vis = PageVisibility::kFull;
};

struct OracleResult {
  std::vector<PageCall> pages;
  uint64_t equal = 0, different = 0, unverified = 0;
  // Expected not-verified parts: kind -> the pages its parts name, summed.
  // The parts of kPfnsUnseen: pages by who did not see their PFN (1 the
  // first capture, 2 now, 3 either), and contents not compared where a PFN
  // was unseen (pages the first may name too: it says what else of them
  // was not verified, so the parts' numbers need not add up to the entry's
  // pages).
  std::map<UnverifiedKind, uint64_t> kind_pages;
  std::map<int, uint64_t> pfn_unseen_pages;
  uint64_t pfn_unseen_contents = 0;
  bool declared_attributes = false;
  std::string not_hashed_by;  // the NOT_HASHED part's words, when named
};

inline OracleResult Judge(const GuestMemfd& e, const GuestMemfd& f, const DiffOptions& o) {
  const uint32_t ps = o.page_size ? o.page_size : kPageSize;
  const uint64_t ne = e.size / ps, nf = f.size / ps;
  const uint64_t n = std::max(ne, nf), m = std::min(ne, nf);
  const std::vector<PageRecord> a = Expand(e, n), b = Expand(f, n);
  OracleResult res;
  res.pages.resize(n);
  const bool pfns = o.compare_pfns, flags = o.compare_folio_flags;
  for (uint64_t p = 0; p < n; ++p) {
    PageCall& c = res.pages[p];
    c.vis = std::max(a[p].vis, b[p].vis);
    c.size = p >= m;
    c.attributes = a[p].attr != b[p].attr;
    switch (c.vis) {
      case PageVisibility::kNone:
        break;
      case PageVisibility::kInitializedOnly:
        c.folios = a[p].resident != b[p].resident;
        break;
      case PageVisibility::kFull:
        if (a[p].resident != b[p].resident) {
          c.folios = true;
        } else if (a[p].resident) {
          if (a[p].order != b[p].order) {
            c.folios = true;
          } else if (a[p].pfn == kPfnUnknown || b[p].pfn == kPfnUnknown) {
            c.pfn_unseen_by = (a[p].pfn == kPfnUnknown ? 1 : 0) | (b[p].pfn == kPfnUnknown ? 2 : 0);
          } else {
            c.folios = (flags && a[p].flags != b[p].flags) || (pfns && a[p].pfn != b[p].pfn);
          }
        }
        break;
    }
  }
  // Contents: pairs over the very same pages, all observed in full.
  std::map<std::pair<uint64_t, uint64_t>, const ContentHash*> f_by_range;
  for (const ContentHash& h : f.hashes) f_by_range[{h.first_index, h.count}] = &h;
  std::vector<bool> paired_f(f.hashes.size(), false), paired_e(e.hashes.size(), false);
  auto full = [&](const ContentHash& h) {
    for (uint64_t p = h.first_index; p < h.first_index + h.count; ++p)
      if (p >= n || res.pages[p].vis != PageVisibility::kFull) return false;
    return true;
  };
  for (size_t i = 0; i < e.hashes.size(); ++i) {
    const ContentHash& h = e.hashes[i];
    auto it = f_by_range.find({h.first_index, h.count});
    if (it == f_by_range.end() || !full(h)) continue;
    paired_e[i] = true;
    paired_f[static_cast<size_t>(it->second - f.hashes.data())] = true;
    if (h.xxh3 != it->second->xxh3)
      for (uint64_t p = h.first_index; p < h.first_index + h.count; ++p)
        res.pages[p].contents = true;
  }
  const bool e_hashed = !e.hashes.empty(), f_hashed = !f.hashes.empty();
  std::vector<bool> uncompared(n, false);
  if (e_hashed && f_hashed) {
    auto alone = [&](const std::vector<ContentHash>& hs, const std::vector<bool>& paired) {
      for (size_t i = 0; i < hs.size(); ++i)
        if (!paired[i])
          for (uint64_t p = hs[i].first_index; p < hs[i].first_index + hs[i].count && p < n; ++p)
            uncompared[p] = true;
    };
    alone(e.hashes, paired_e);
    alone(f.hashes, paired_f);
  }
  const bool kernel = e.provenance == Provenance::kKernel;
  const bool named_not_hashed = kernel && !(e_hashed && f_hashed);
  uint64_t not_hashed = 0;
  for (uint64_t p = 0; p < n; ++p) {
    PageCall& c = res.pages[p];
    if (c.size || c.folios || c.attributes || c.contents) {
      c.call = Call::kDifferent;
      ++res.different;
      continue;
    }
    c.call = Call::kUnverified;
    if (c.vis == PageVisibility::kInitializedOnly) {
      c.why = UnverifiedKind::kPagesPrivate;
    } else if (c.vis == PageVisibility::kNone) {
      c.why = UnverifiedKind::kPagesInvisible;
    } else if (c.pfn_unseen_by && (pfns || flags)) {
      c.why = UnverifiedKind::kPfnsUnseen;
    } else if (uncompared[p]) {
      c.why = c.pfn_unseen_by ? UnverifiedKind::kPfnsUnseen : UnverifiedKind::kContentsCutOtherwise;
    } else if (named_not_hashed && a[p].resident) {
      c.why = UnverifiedKind::kContentsNotHashed;
      c.not_hashed = true;
      ++not_hashed;
    } else {
      c.call = Call::kEqual;
      ++res.equal;
      continue;
    }
    ++res.unverified;
    // What the parts name: the pages of each visibility, those whose PFN a
    // side did not see, and (a fact of its own, of pages named so or not)
    // the contents not compared, apart where a PFN was unseen.
    if (c.why == UnverifiedKind::kPagesPrivate || c.why == UnverifiedKind::kPagesInvisible)
      ++res.kind_pages[c.why];
    if (c.pfn_unseen_by && (pfns || flags) && c.vis == PageVisibility::kFull) {
      ++res.pfn_unseen_pages[c.pfn_unseen_by];
      ++res.kind_pages[UnverifiedKind::kPfnsUnseen];
    }
    if (uncompared[p] && c.vis == PageVisibility::kFull) {
      if (c.pfn_unseen_by) ++res.pfn_unseen_contents;
      ++res.kind_pages[c.pfn_unseen_by ? UnverifiedKind::kPfnsUnseen
                                       : UnverifiedKind::kContentsCutOtherwise];
    }
  }
  if (not_hashed) {
    res.kind_pages[UnverifiedKind::kContentsNotHashed] = not_hashed;
    res.not_hashed_by = !e_hashed && !f_hashed ? "hashed by neither capture"
                        : !e_hashed            ? "hashed now only"
                                               : "hashed by the first capture only";
  }
  res.declared_attributes =
      (e.provenance == Provenance::kKernel || f.provenance == Provenance::kKernel) &&
      (!e.attributes.empty() || !f.attributes.empty());
  return res;
}

// Pages [first, end) a difference's field names ("folios pages 3-9", "contents page 4"),
// with its category; false for a field that names no page range.
inline bool ParseRange(const std::string& field, std::string* category, uint64_t* first,
                       uint64_t* end) {
  for (const char* c : {"folios ", "attributes ", "contents "}) {
    const std::string prefix = c;
    if (field.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string rest = field.substr(prefix.size());
    unsigned long long x = 0, y = 0;
    char tail = 0;
    if (std::sscanf(rest.c_str(), "pages %llu-%llu%c", &x, &y, &tail) == 2 && y > x) {
      *first = x, *end = y + 1;
    } else if (std::sscanf(rest.c_str(), "page %llu%c", &x, &tail) == 1) {
      *first = x, *end = x + 1;
    } else {
      return false;
    }
    *category = prefix.substr(0, prefix.size() - 1);
    return true;
  }
  return false;
}

// The first number in `text` (0 when none).
inline uint64_t FirstNumber(const std::string& text) {
  const size_t at = text.find_first_of("0123456789");
  return at == std::string::npos ? 0 : std::strtoull(text.c_str() + at, nullptr, 10);
}

inline std::string PageDescription(const PageRecord& x, PageVisibility v, const DiffOptions& o) {
  if (v == PageVisibility::kInitializedOnly)
    return x.resident ? "initialized (PFN not observable)" : "not initialized";
  if (!x.resident) return "hole";
  if (x.pfn == kPfnUnknown) return "resident pfn unknown order " + std::to_string(x.order);
  if (!o.show_pfns) return "resident pfn (root only) order " + std::to_string(x.order);
  return "resident pfn " + Hex(x.pfn) + " order " + std::to_string(x.order) + " flags " +
         Hex(x.flags);
}

// Every way DiffGmems' answer `d` (for e against f alone) departs from the
// oracle's; empty when it agrees.
inline std::vector<std::string> Disagreements(const GuestMemfd& e, const GuestMemfd& f,
                                              const DiffOptions& o, const SnapshotDiff& d) {
  std::vector<std::string> bad;
  const OracleResult want = Judge(e, f, o);
  const uint64_t n = want.pages.size();
  auto say = [&](std::string s) {
    if (bad.size() < 40) bad.push_back(std::move(s));
  };
  // Counts.
  const DiffCounts& c = d.counts;
  if (c.pages_equal != want.equal || c.pages_different != want.different ||
      c.pages_unverified != want.unverified)
    say("counts equal/different/unverified " + std::to_string(c.pages_equal) + "/" +
        std::to_string(c.pages_different) + "/" + std::to_string(c.pages_unverified) + ", oracle " +
        std::to_string(want.equal) + "/" + std::to_string(want.different) + "/" +
        std::to_string(want.unverified));
  // Page ranges, per category: exactly the pages the oracle finds different so.
  const uint32_t ps = o.page_size ? o.page_size : kPageSize;
  const uint64_t m = std::min(e.size, f.size) / ps;
  std::map<std::string, std::vector<bool>> listed;
  for (const char* cat : {"size", "folios", "attributes", "contents"}) listed[cat].assign(n, false);
  const std::vector<PageRecord> a = Expand(e, n), b = Expand(f, n);
  bool size_listed = false;
  for (const Difference& x : d.differences) {
    if (!x.in_gmem || x.gmem_token != e.token) say("difference not of this gmem: " + x.ToString());
    std::string cat;
    uint64_t first = 0, end = 0;
    if (x.field == "size") {
      if (size_listed) say("size listed twice");
      size_listed = true;
      cat = "size", first = m, end = n;
      if (x.expected != std::to_string(e.size) || x.found != std::to_string(f.size))
        say("size difference says " + x.ToString());
    } else if (!ParseRange(x.field, &cat, &first, &end)) {
      // Restructure records are compared as records, over no page range.
      if (x.field.compare(0, 20, "restructure at page ") != 0)
        say("unexpected difference " + x.ToString());
      continue;
    }
    if (first >= end || end > n) {
      say("range out of the file: " + x.ToString());
      continue;
    }
    std::vector<bool>& l = listed[cat];
    for (uint64_t p = first; p < end; ++p) {
      if (l[p]) say("page " + std::to_string(p) + " in two " + cat + " differences");
      l[p] = true;
    }
    // What the range says of its first page.
    if (cat == "folios") {
      const PageVisibility v = want.pages[first].vis;
      const std::string ex = PageDescription(a[first], v, o), fx = PageDescription(b[first], v, o);
      if (x.expected != ex || x.found != fx)
        say(x.ToString() + ": oracle says of page " + std::to_string(first) + " expected " + ex +
            ", found " + fx);
    } else if (cat == "contents") {
      const long hi = a[first].hash;
      const bool ok = hi >= 0 && e.hashes[hi].first_index == first &&
                      e.hashes[hi].count == end - first &&
                      x.expected == "xxh3 " + Hex(e.hashes[hi].xxh3);
      if (!ok) say(x.ToString() + ": not over a hash of the expected side");
    } else if (cat == "attributes") {
      if (x.expected != "attributes " + Hex(a[first].attr) ||
          x.found != "attributes " + Hex(b[first].attr))
        say(x.ToString() + ": oracle says attributes " + Hex(a[first].attr) + " and " +
            Hex(b[first].attr));
    }
  }
  if ((e.size != f.size) != size_listed)
    say("size difference listed " + std::to_string(size_listed));
  for (const auto& [cat, l] : listed) {
    // Ranges of pages where listing and oracle disagree.
    for (uint64_t p = 0; p < n;) {
      const PageCall& pc = want.pages[p];
      const bool should = cat == "size"         ? pc.size
                          : cat == "folios"     ? pc.folios
                          : cat == "attributes" ? pc.attributes
                                                : pc.contents;
      if (should == l[p]) {
        ++p;
        continue;
      }
      uint64_t q = p + 1;
      while (q < n) {
        const PageCall& qc = want.pages[q];
        const bool s = cat == "size"         ? qc.size
                       : cat == "folios"     ? qc.folios
                       : cat == "attributes" ? qc.attributes
                                             : qc.contents;
        if (s != should || l[q] != l[p]) break;
        ++q;
      }
      say(cat + " pages " + std::to_string(p) + "-" + std::to_string(q - 1) +
          (should ? ": oracle finds them different, no difference lists them"
                  : ": listed different, oracle calls them " +
                        std::string(pc.call == Call::kEqual ? "equal" : "not verified")));
      p = q;
    }
  }
  // Not-verified parts.
  const UnverifiedGmem* u = nullptr;
  for (const UnverifiedGmem& x : d.unverified) {
    if (u) say("two unverified entries");
    u = &x;
  }
  const bool want_entry = !want.kind_pages.empty() || want.declared_attributes;
  if (want_entry != (u != nullptr)) {
    say(std::string(want_entry ? "no" : "an") + " unverified entry" +
        (u ? ": " + u->ToString()
           : ", oracle: " + std::to_string(want.unverified) + " pages not verified"));
  }
  if (u) {
    if (u->token != e.token || u->name != e.name) say("unverified entry of another gmem");
    if (u->pages != want.unverified)
      say("unverified entry counts " + std::to_string(u->pages) + " pages, oracle " +
          std::to_string(want.unverified));
    if (u->kinds.size() != u->parts.size()) say("unverified kinds and parts differ in number");
    std::map<UnverifiedKind, uint64_t> got;
    std::map<int, uint64_t> got_pfn;
    uint64_t got_pfn_contents = 0;
    bool got_attributes = false;
    for (size_t i = 0; i < u->kinds.size() && i < u->parts.size(); ++i) {
      const UnverifiedKind k = u->kinds[i];
      const std::string& t = u->parts[i];
      switch (k) {
        case UnverifiedKind::kDeclaredAttributes:
          got_attributes = true;
          break;
        case UnverifiedKind::kPfnsUnseen:
          if (t.compare(0, 12, "contents of ") == 0) {
            got_pfn_contents += FirstNumber(t);
          } else {
            const int by = t.find("seen by either capture") != std::string::npos      ? 3
                           : t.find("seen by the first capture") != std::string::npos ? 1
                           : t.find("seen by now") != std::string::npos               ? 2
                                                                                      : 0;
            got_pfn[by] += FirstNumber(t);
          }
          got[k] += FirstNumber(t);
          break;
        case UnverifiedKind::kContentsNotHashed:
          if (t.find(want.not_hashed_by) == std::string::npos || want.not_hashed_by.empty())
            say("part '" + t + "': oracle says '" + want.not_hashed_by + "'");
          got[k] += FirstNumber(t);
          break;
        case UnverifiedKind::kPagesPrivate:
        case UnverifiedKind::kPagesInvisible:
        case UnverifiedKind::kContentsCutOtherwise:
          got[k] += FirstNumber(t);
          break;
        default:
          say("unexpected part '" + t + "'");
      }
    }
    std::map<UnverifiedKind, uint64_t> want_kinds = want.kind_pages;
    if (got != want_kinds) {
      std::string s = "parts name";
      for (const auto& [k, v] : got)
        s += " kind " + std::to_string(static_cast<int>(k)) + ":" + std::to_string(v);
      s += "; oracle";
      for (const auto& [k, v] : want_kinds)
        s += " kind " + std::to_string(static_cast<int>(k)) + ":" + std::to_string(v);
      say(s + " (" + u->ToString() + ")");
    }
    if (got_pfn != want.pfn_unseen_pages || got_pfn_contents != want.pfn_unseen_contents)
      say("PFN-unseen parts by side or contents disagree: " + u->ToString());
    if (got_attributes != want.declared_attributes)
      say(std::string("declared attributes ") + (got_attributes ? "named" : "not named"));
  }
  return bad;
}

// At most kListed entries of a list are shown, then how many more.
constexpr size_t kListed = 64;
inline std::string More(size_t total) {
  return total > kListed ? ",... (" + std::to_string(total - kListed) + " more)" : "";
}

// "pages 12 buddy kernel vis[0-3 F,4-11 I] ext[0+4 0x1000 o0 f0x1,...] hash[0+4 0xab,...]
// attr[0+2=0x8] restr[8 o3 runs 2]": one side, compactly.
inline std::string Describe(const GuestMemfd& g) {
  std::string s = "pages " + std::to_string(g.size / kPageSize) + " " +
                  (g.backing == Backing::kHugetlb ? "hugetlb/" + std::to_string(g.hstate_order)
                                                  : std::string("buddy")) +
                  " " + ProvenanceName(g.provenance) + " vis[";
  for (size_t i = 0; i < g.visibility.size() && i < kListed; ++i) {
    const VisibilityRange& v = g.visibility[i];
    s += (i ? "," : "") + std::to_string(v.first_index) + "-" + std::to_string(v.end_index() - 1) +
         " " + std::string(1, "FIN"[static_cast<int>(v.visibility) % 3]);
  }
  s += More(g.visibility.size()) + "] ext[";
  for (size_t i = 0; i < g.folios.size() && i < kListed; ++i) {
    const FolioExtent& x = g.folios[i];
    s += (i ? "," : "") + std::to_string(x.first_index) + "+" + std::to_string(x.pages()) + " " +
         (x.first_pfn == kPfnUnknown ? std::string("?") : Hex(x.first_pfn)) + " o" +
         std::to_string(x.order) + " f" + std::to_string(x.flags);
  }
  s += More(g.folios.size()) + "] hash[";
  for (size_t i = 0; i < g.hashes.size() && i < kListed; ++i)
    s += (i ? "," : "") + std::to_string(g.hashes[i].first_index) + "+" +
         std::to_string(g.hashes[i].count) + " " + Hex(g.hashes[i].xxh3 & 0xffff);
  s += More(g.hashes.size()) + "] attr[";
  const auto ranges = g.attributes.Ranges();
  for (size_t i = 0; i < ranges.size(); ++i)
    s += (i ? "," : "") + std::to_string(ranges[i].first) + "+" + std::to_string(ranges[i].count) +
         "=" + Hex(ranges[i].value);
  s += "] restr[";
  for (size_t i = 0; i < g.restructures.size(); ++i)
    s += (i ? "," : "") + std::to_string(g.restructures[i].index) + " runs " +
         std::to_string(g.restructures[i].layout.size());
  return s + "]";
}

inline std::string DescribeOptions(const DiffOptions& o) {
  return std::string("compare_pfns ") + (o.compare_pfns ? "1" : "0") + " compare_folio_flags " +
         (o.compare_folio_flags ? "1" : "0") + " show_pfns " + (o.show_pfns ? "1" : "0") +
         " compare_inodes " + (o.compare_inodes ? "1" : "0");
}

// Runs DiffGmems (and DiffSnapshots of one-gmem snapshots, which must say the
// same) on the case; every disagreement with the oracle.
inline std::vector<std::string> CheckCase(const Case& c) {
  std::vector<std::string> bad;
  for (const GuestMemfd* g : {&c.expected, &c.found})
    if (const std::string p = GeneratorProblem(*g); !p.empty())
      bad.push_back("generator made a gmem that breaks the invariants: " + p);
  if (!bad.empty()) return bad;
  SnapshotDiff d;
  DiffGmems(c.expected, c.found, c.opts, &d);
  bad = Disagreements(c.expected, c.found, c.opts, d);
  Snapshot se, sf;
  se.gmems = {c.expected};
  sf.gmems = {c.found};
  const SnapshotDiff s = DiffSnapshots(se, sf, c.opts);
  if (s.counts.pages_equal != d.counts.pages_equal ||
      s.counts.pages_different != d.counts.pages_different ||
      s.counts.pages_unverified != d.counts.pages_unverified ||
      s.differences.size() != d.differences.size() || s.unverified.size() != d.unverified.size())
    bad.push_back("DiffSnapshots of the one-gmem snapshots says otherwise than DiffGmems");
  return bad;
}

inline std::string Report(const Case& c, const std::vector<std::string>& bad) {
  std::string s = "mutations: " + (c.mutations.empty() ? std::string("none") : c.mutations) +
                  (c.swapped ? " (applied to expected)" : " (applied to found)") +
                  "\noptions: " + DescribeOptions(c.opts) + "\nexpected: " + Describe(c.expected) +
                  "\nfound:    " + Describe(c.found) + "\n";
  SnapshotDiff d;
  DiffGmems(c.expected, c.found, c.opts, &d);
  s += "DiffGmems: " + std::to_string(d.counts.pages_equal) + " equal, " +
       std::to_string(d.counts.pages_different) + " different, " +
       std::to_string(d.counts.pages_unverified) + " not verified\n";
  for (const Difference& x : d.differences) s += "  " + x.ToString() + "\n";
  for (const UnverifiedGmem& u : d.unverified) s += "  unverified: " + u.ToString() + "\n";
  s += "disagreements:\n";
  for (const std::string& b : bad) s += "  " + b + "\n";
  return s;
}

}  // namespace page_oracle
}  // namespace khod

#endif  // KHOD_TESTS_VERIFY_PAGE_ORACLE_H_
