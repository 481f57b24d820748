#include "restore/verify_restored.h"

#include <algorithm>

#include "state/invariants.h"

namespace khod {

RestoreVerdict VerifyRestored(const Snapshot& frozen, const Snapshot& restored) {
  RestoreVerdict v;
  DiffOptions opts;
  // Inode numbers are per kernel boot (and new for rebuilt files); hashes the
  // frozen side took must be present after restore, or contents are unproven.
  opts.compare_inodes = false;
  opts.require_hashes = true;
  v.differences = DiffSnapshots(frozen, restored, opts);
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
