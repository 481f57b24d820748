#include "verify/verify_restored.h"

#include "state/invariants.h"

namespace khod {

RestoreVerdict VerifyRestored(const Snapshot& frozen, const Snapshot& restored, bool show_pfns) {
  RestoreVerdict v;
  DiffOptions opts;
  opts.show_pfns = show_pfns;
  // Inode numbers are per kernel boot (and new for rebuilt files); hashes the
  // frozen side took must be present after restore, or contents are unproven.
  opts.compare_inodes = false;
  opts.require_hashes = true;
  // khod holds the restored files; the VMM's mappings and their policies come after.
  opts.compare_vmm_policies = false;
  v.diff = DiffSnapshots(frozen, restored, opts);
  for (const Violation& viol : CheckInvariants(restored)) {
    Difference d;
    d.field = "invariant " + viol.where;
    d.expected = "holds";
    d.found = viol.what;
    v.diff.differences.push_back(std::move(d));
  }
  v.counts = CountCompared(frozen, restored);
  return v;
}

}  // namespace khod
