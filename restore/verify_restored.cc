#include "restore/verify_restored.h"

#include <algorithm>

#include "state/invariants.h"

namespace khod {

namespace {

// `s` without the folio lists and hashes that are identical, entry by
// entry, to those of the same gmem in `other`: identical lists mean the same
// PFN, order and flags on every page (and the same XXH3 over every range),
// which is what the page-range sweep would find at ~0.5 us an extent (45 ms
// for a 2 GiB shmem file's 60k extents). Lists that differ in any way,
// even only in how runs are cut, keep going through the sweep.
Snapshot WithoutIdenticalLists(const Snapshot& s, const Snapshot& other) {
  Snapshot out = s;
  for (GuestMemfd& g : out.gmems) {
    const GuestMemfd* o = other.FindGmem(g.token);
    if (!o) continue;
    if (g.folios == o->folios) g.folios.clear();
    if (g.hashes == o->hashes) g.hashes.clear();
  }
  return out;
}

}  // namespace

RestoreVerdict VerifyRestored(const Snapshot& frozen, const Snapshot& restored) {
  RestoreVerdict v;
  DiffOptions opts;
  // Inode numbers are per kernel boot (and new for rebuilt files); hashes the
  // frozen side took must be present after restore, or contents are unproven.
  opts.compare_inodes = false;
  opts.require_hashes = true;
  v.differences = DiffSnapshots(WithoutIdenticalLists(frozen, restored),
                                WithoutIdenticalLists(restored, frozen), opts);
  for (const Violation& viol : CheckInvariants(restored)) {
    Difference d;
    d.field = "invariant " + viol.where;
    d.expected = "holds";
    d.found = viol.what;
    v.differences.push_back(std::move(d));
  }
  std::vector<FileKind> real_kinds;
  for (const GuestMemfd& g : frozen.gmems) {
    const bool real = g.provenance == Provenance::kKernel;
    uint64_t pages = 0, pfns = 0;
    for (const FolioExtent& e : g.folios) {
      pages += e.pages();
      if (e.first_pfn != kPfnUnknown) pfns += e.pages();
    }
    v.pages_compared += pages;
    v.pfns_compared += pfns;
    v.hashes_compared += g.hashes.size();
    if (real) {
      v.counts.real_pages += pages;
      v.counts.real_pfns += pfns;
      v.counts.real_hashes += g.hashes.size();
      if (std::find(real_kinds.begin(), real_kinds.end(), g.kind) == real_kinds.end())
        real_kinds.push_back(g.kind);
    } else {
      v.counts.model_pages += pages;
      v.counts.model_hashes += g.hashes.size();
    }
  }
  for (FileKind k : real_kinds)
    v.counts.real_kinds += (v.counts.real_kinds.empty() ? "" : "/") + std::string(FileKindName(k));
  return v;
}

}  // namespace khod
