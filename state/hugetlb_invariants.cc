#include "state/hugetlb_invariants.h"

#include <algorithm>
#include <string>

namespace khod {
namespace {

bool SaneExtent(const FolioExtent& e) {
  uint64_t end;
  return e.order <= kMaxFolioOrder && e.nr_folios > 0 &&
         !__builtin_add_overflow(e.first_index, e.pages(), &end);
}

// End of an extent for searching, saturated: these checks also run on
// hostile decoded extents (bad order, wrapping end) that CheckFolios reports,
// and must not shift or add out of range on them (found by fuzz/).
uint64_t SaturatedEnd(const FolioExtent& e) {
  uint64_t end;
  if (e.order > kMaxFolioOrder || __builtin_add_overflow(e.first_index, e.pages(), &end))
    return UINT64_MAX;
  return end;
}

// Index of the first folio extent ending after `index` (folios are ordered).
size_t FirstExtentAfter(const GuestMemfd& g, uint64_t index) {
  auto it = std::upper_bound(g.folios.begin(), g.folios.end(), index,
                             [](uint64_t v, const FolioExtent& e) { return v < SaturatedEnd(e); });
  return static_cast<size_t>(it - g.folios.begin());
}

void CheckRecordAgainstFolios(const GuestMemfd& g, size_t ri, std::vector<Violation>* out) {
  const RestructureRecord& r = g.restructures[ri];
  const uint64_t n = uint64_t{1} << r.original_order;
  const uint64_t end = r.index + n;
  std::vector<SplitRun> seen;
  uint64_t at = r.index;
  bool pfn_ok = true;
  for (size_t i = FirstExtentAfter(g, r.index); i < g.folios.size(); ++i) {
    const FolioExtent& e = g.folios[i];
    if (!SaneExtent(e) || e.first_index >= end) break;
    const uint64_t lo = std::max(e.first_index, r.index), hi = std::min(e.end_index(), end);
    if (lo != at) break;  // a hole: reported below
    if (e.first_pfn != kPfnUnknown && r.head_pfn != kPfnUnknown &&
        e.first_pfn + (lo - e.first_index) != r.head_pfn + (lo - r.index))
      pfn_ok = false;
    const uint32_t offset = static_cast<uint32_t>(lo - r.index);
    const uint32_t count = static_cast<uint32_t>((hi - lo) >> e.order);
    if (!seen.empty() && seen.back().order == e.order &&
        seen.back().offset + (uint64_t{seen.back().count} << e.order) == offset)
      seen.back().count += count;
    else
      seen.push_back(SplitRun{offset, count, e.order});
    at = hi;
  }
  if (at != end) {
    out->push_back({GmemWhere(g, "restructures", ri),
                    "page " + std::to_string(at) + " of the restructured folio is not allocated"});
    return;
  }
  if (!pfn_ok)
    out->push_back({GmemWhere(g, "restructures", ri),
                    "folio PFNs do not follow head pfn " + std::to_string(r.head_pfn)});
  if (seen != r.layout)
    out->push_back(
        {GmemWhere(g, "restructures", ri), "layout does not match the folios it covers"});
  // A split or merge under way legitimately has the whole folio at one end.
  if (!r.in_progress && seen.size() == 1 && seen[0].order == r.original_order)
    out->push_back({GmemWhere(g, "restructures", ri), "record of a folio that is not split"});
}

}  // namespace

void CheckRestructureMembership(const GuestMemfd& g, std::vector<Violation>* out) {
  if (g.backing != Backing::kHugetlb || g.hstate_order == 0 || g.hstate_order > kMaxFolioOrder)
    return;
  for (size_t ri = 0; ri < g.restructures.size(); ++ri) {
    const RestructureRecord& r = g.restructures[ri];
    if (r.original_order != g.hstate_order) {
      out->push_back({GmemWhere(g, "restructures", ri),
                      "original order " + std::to_string(r.original_order) +
                          " is not the file's hstate order " + std::to_string(g.hstate_order)});
      continue;
    }
    if (ri > 0 && g.restructures[ri - 1].index == r.index) {
      out->push_back({GmemWhere(g, "restructures", ri),
                      "second record for the folio at index " + std::to_string(r.index) +
                          ": a sub-folio must belong to exactly one"});
      continue;
    }
    uint64_t end;
    if (__builtin_add_overflow(r.index, uint64_t{1} << r.original_order, &end)) continue;
    CheckRecordAgainstFolios(g, ri, out);
  }
}

void CheckMixedFoliosSplit(const GuestMemfd& g, std::vector<Violation>* out) {
  // Only a folio of order > 0 can hold both: a list the facts say has none
  // (worked out once per list) has nothing to walk.
  if (g.folios.facts().well_formed && g.folios.facts().max_order == 0) return;
  // Page indices where the private bit changes; a folio of order > 0 that has
  // one strictly inside it holds both shared and private pages.
  std::vector<uint64_t> edges;
  uint64_t run_end = 0;
  bool in_run = false;
  // ForEach, not Ranges(): no copy of the map on every encode and decode.
  g.attributes.ForEach(0, g.attributes.end(), [&](const AttributeRange& r) {
    const bool priv = (r.value & kAttrPrivate) != 0;
    if (!priv) return;
    if (in_run && run_end == r.first) {
      run_end = r.first + r.count;
      return;
    }
    if (in_run) edges.push_back(run_end);
    edges.push_back(r.first);
    in_run = true;
    run_end = r.first + r.count;
  });
  if (in_run) edges.push_back(run_end);
  // Edges ascend, so one forward walk finds each edge's extent (what
  // FirstExtentAfter would) in O(edges + extents): a binary search per edge
  // was a third of decoding 10,000 shared ranges (bench/serializer_bench).
  size_t i = 0;
  for (uint64_t edge : edges) {
    while (i < g.folios.size() && SaturatedEnd(g.folios[i]) <= edge) ++i;
    if (i >= g.folios.size()) break;
    const FolioExtent& e = g.folios[i];
    if (!SaneExtent(e) || e.order == 0 || edge <= e.first_index) continue;
    const uint64_t fsize = uint64_t{1} << e.order;
    const uint64_t off = (edge - e.first_index) % fsize;
    if (off == 0) continue;
    const uint64_t folio = edge - off;
    out->push_back(
        {GmemWhere(g, "folios", i), "folio at index " + std::to_string(folio) + " (order " +
                                        std::to_string(e.order) +
                                        ") holds both shared and private pages but is not split"});
  }
}

}  // namespace khod
