#include "verify/verify_counts.h"

#include <algorithm>
#include <vector>

#include "verify/page_ranges.h"
#include "verify/snapshot_diff.h"

namespace khod {

namespace {

// What DiffGmems compares of one gmem present on both sides.
struct GmemCounts {
  uint64_t pages = 0;  // resident in `expected` where both observed it in full
  uint64_t pfns = 0;   // of them, not shown resident with an unseen PFN by either side
  uint64_t hashes = 0;
  bool observed = false;  // some page observed in full by both
};

// The count of `e`'s hashes DiffGmems compares: those with a twin in `f`
// over the very same pages (MatchHashes), that range observed in full by
// both (no range of `unseen` touches it: snapshot_diff's FullyObserved).
uint64_t ComparedHashes(const GuestMemfd& e, const GuestMemfd& f, const PageRanges& unseen) {
  uint64_t n = 0;
  MatchHashes(
      e.hashes, f.hashes,
      [&](const ContentHash& h, const ContentHash&) {
        auto it = FirstEndingAfter(unseen, h.first_index);
        n += it == unseen.end() || it->first >= h.first_index + h.count;
      },
      [](const ContentHash&) {});
  return n;
}

GmemCounts CountGmem(const GuestMemfd& e, const GuestMemfd& f, uint32_t page_size) {
  GmemCounts c;
  const uint64_t pages = std::max(e.size, f.size) / page_size;
  // Both saw every page in full and every PFN `f` holds: the lists' own sums,
  // worked out once per array, not once per Verify (which is in the blackout);
  // the hashes in one walk of both lists.
  const FolioListFacts& facts = e.folios.facts();
  if (ObservedInFull(e) && ObservedInFull(f) && facts.well_formed &&
      f.folios.facts().all_pfns_known()) {
    c.pages = facts.pages;
    c.pfns = facts.pages_pfn_known;
    c.hashes = ComparedHashes(e, f, {});
    c.observed = pages > 0;
    return c;
  }
  // Pages either side observed other than in full: their state is not compared.
  PageRanges unseen;
  uint64_t unseen_pages = 0;
  for (const VisibilityRange& r : CombinedVisibility(e, f, pages))
    if (r.visibility != PageVisibility::kFull) {
      unseen.push_back({r.first_index, r.end_index()});
      unseen_pages += r.count;
    }
  // Pages whose PFN was not compared: those, and those `f` holds with its PFN unseen.
  PageRanges pfn_unseen = unseen;
  for (const FolioExtent& x : f.folios)
    if (x.first_pfn == kPfnUnknown) pfn_unseen.push_back({x.first_index, x.end_index()});
  if (pfn_unseen.size() > unseen.size()) pfn_unseen = Merged(std::move(pfn_unseen));
  for (const FolioExtent& x : e.folios) {
    c.pages += x.pages() - Overlap(unseen, x.first_index, x.end_index());
    if (x.first_pfn != kPfnUnknown)
      c.pfns += x.pages() - Overlap(pfn_unseen, x.first_index, x.end_index());
  }
  c.hashes = ComparedHashes(e, f, unseen);
  c.observed = unseen_pages < pages;
  return c;
}

}  // namespace

VerifyCounts CountCompared(const Snapshot& expected, const Snapshot& found) {
  VerifyCounts c;
  const uint32_t page_size = expected.header.page_size ? expected.header.page_size : 4096;
  std::vector<FileKind> real_kinds, unobserved_kinds;
  for (const GuestMemfd& e : expected.gmems) {
    // A gmem on one side only is a difference; nothing of it is compared.
    const GuestMemfd* f = found.FindGmem(e.token);
    if (!f) continue;
    const GmemCounts g = CountGmem(e, *f, page_size);
    if (e.provenance == Provenance::kKernel) {
      c.real_pages += g.pages;
      c.real_pfns += g.pfns;
      c.real_hashes += g.hashes;
      // A kind is named only where some of its memory was observed in full by both.
      std::vector<FileKind>& kinds = g.observed ? real_kinds : unobserved_kinds;
      if (std::find(kinds.begin(), kinds.end(), e.kind) == kinds.end()) kinds.push_back(e.kind);
    } else {
      c.model_pages += g.pages;
      c.model_hashes += g.hashes;
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
  s += VmmPolicyReadsText(c.vmm_policies_from_vmas, c.vmm_policies_from_numa_maps);
  if (c.model_pages || c.model_hashes) {
    s += "; MODEL: " + std::to_string(c.model_pages) + " pages";
    if (c.model_hashes) s += " and " + std::to_string(c.model_hashes) + " content hashes";
    s += " compared";
  }
  return s;
}

std::string VmmPolicyReadsText(uint64_t from_vmas, uint64_t from_numa_maps) {
  if (from_vmas + from_numa_maps == 0) return "";
  auto processes = [](uint64_t n) {
    return std::to_string(n) + (n == 1 ? " process" : " processes");
  };
  std::string s = "; VMM NUMA policies: ";
  if (from_vmas) s += processes(from_vmas) + " read from their VMAs";
  if (from_vmas && from_numa_maps) s += ", ";
  if (from_numa_maps)
    s += (from_vmas ? std::to_string(from_numa_maps) : processes(from_numa_maps) + " read") +
         " through numa_maps, a walk of every page mapped";
  return s;
}

}  // namespace khod
