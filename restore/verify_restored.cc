#include "restore/verify_restored.h"

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
  for (const GuestMemfd& g : frozen.gmems) {
    for (const FolioExtent& e : g.folios) {
      v.pages_compared += e.pages();
      if (e.first_pfn != kPfnUnknown) v.pfns_compared += e.pages();
    }
    v.hashes_compared += g.hashes.size();
  }
  return v;
}

}  // namespace khod
