#include "verify/verify_counts.h"

#include <algorithm>
#include <vector>

namespace khod {

namespace {

// Pages of `x` that `g` observed in full.
uint64_t FullyObservedPages(const GuestMemfd& g, const FolioExtent& x) {
  uint64_t n = x.pages();
  for (const VisibilityRange& r : g.visibility) {
    if (r.visibility == PageVisibility::kFull) continue;
    const uint64_t lo = std::max(r.first_index, x.first_index);
    const uint64_t hi = std::min(r.end_index(), x.end_index());
    if (lo < hi) n -= hi - lo;
  }
  return n;
}

}  // namespace

VerifyCounts CountCompared(const Snapshot& expected) {
  VerifyCounts c;
  std::vector<FileKind> real_kinds, unobserved_kinds;
  for (const GuestMemfd& g : expected.gmems) {
    uint64_t pages = 0, pfns = 0;
    // Every page of every extent observed in full: the list's own sums,
    // worked out once per list, not once per Verify.
    if (ObservedInFull(g) && g.folios.facts().well_formed) {
      pages = g.folios.facts().pages;
      pfns = g.folios.facts().pages_pfn_known;
    } else {
      for (const FolioExtent& e : g.folios) {
        const uint64_t n = g.visibility.empty() ? e.pages() : FullyObservedPages(g, e);
        pages += n;
        if (e.first_pfn != kPfnUnknown) pfns += n;
      }
    }
    if (g.provenance == Provenance::kKernel) {
      c.real_pages += pages;
      c.real_pfns += pfns;
      c.real_hashes += g.hashes.size();
      // A kind is named only where some of its memory was observed in full.
      const bool observed =
          UnobservedPages(g, expected.header.page_size) < g.pages(expected.header.page_size);
      std::vector<FileKind>& kinds = observed ? real_kinds : unobserved_kinds;
      if (std::find(kinds.begin(), kinds.end(), g.kind) == kinds.end()) kinds.push_back(g.kind);
    } else {
      c.model_pages += pages;
      c.model_hashes += g.hashes.size();
    }
  }
  for (FileKind k : real_kinds)
    c.real_kinds += (c.real_kinds.empty() ? "" : "/") + std::string(FileKindName(k));
  for (FileKind k : unobserved_kinds)
    if (std::find(real_kinds.begin(), real_kinds.end(), k) == real_kinds.end())
      c.real_unobserved_kinds +=
          (c.real_unobserved_kinds.empty() ? "" : "/") + std::string(FileKindName(k));
  return c;
}

std::string VerifyCountsText(const VerifyCounts& c, bool equal) {
  const std::string outcome = equal ? " unchanged" : " compared";
  std::string s;
  if (c.real_kinds.empty()) {
    s = c.real_unobserved_kinds.empty()
            ? "no real memory"
            : "no real memory observed in full (" + c.real_unobserved_kinds + ")";
  } else {
    // Pages whose PFN pagemap hid (no CAP_SYS_ADMIN) were compared without
    // one: not claimed as PFNs.
    if (c.real_pfns == c.real_pages)
      s = std::to_string(c.real_pfns) + " real PFNs (" + c.real_kinds + ")";
    else
      s = std::to_string(c.real_pages) + " real pages (" + c.real_kinds + "), " +
          std::to_string(c.real_pfns) + " of them with a known PFN,";
    s += " and " + std::to_string(c.real_hashes) + " content hashes" + outcome;
    if (c.real_flags_carried)
      s += " (folio flags of " + std::to_string(c.real_flags_carried) +
           " pages carried from Freeze, mapped at the same PFN since)";
    if (c.real_pages_witnessed)
      s += " (" + std::to_string(c.real_pages_witnessed) +
           " pages vouched for by the PTE keeper, not walked)";
    if (c.real_pages_walked)
      s += " (a change scan since Freeze walked the PTEs of " +
           std::to_string(c.real_pages_walked) + " pages)";
  }
  if (c.model_pages || c.model_hashes) {
    s += "; MODEL: " + std::to_string(c.model_pages) + " pages";
    if (c.model_hashes) s += " and " + std::to_string(c.model_hashes) + " content hashes";
    s += " compared";
  }
  return s;
}

}  // namespace khod
