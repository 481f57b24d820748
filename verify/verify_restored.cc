#include "verify/verify_restored.h"

#include <algorithm>
#include <limits>

#include "restore/policy_restore.h"
#include "state/invariants.h"

namespace khod {

RestoreVerdict VerifyRestored(const Snapshot& frozen, const Snapshot& restored, bool show_pfns,
                              const std::set<uint64_t>& rebuilt) {
  RestoreVerdict v;
  DiffOptions opts;
  opts.show_pfns = show_pfns;
  // Inode numbers are per kernel boot (and new for rebuilt files).
  opts.compare_inodes = false;
  // khod holds the restored files; the VMM's mappings and their policies come after.
  opts.compare_vmm_policies = false;
  // Cut once the invariants' differences are in too (below), so that the
  // list's count is of every one.
  opts.max_differences = std::numeric_limits<size_t>::max();
  v.diff = DiffSnapshots(frozen, restored, opts);
  auto part_of = [&](const GuestMemfd& g) -> UnverifiedGmem& {
    auto it = std::find_if(v.diff.unverified.begin(), v.diff.unverified.end(),
                           [&](const UnverifiedGmem& u) { return u.token == g.token; });
    if (it == v.diff.unverified.end())
      it = v.diff.unverified.insert(v.diff.unverified.end(),
                                    UnverifiedGmem{g.token, g.name, 0, {}, {}});
    return *it;
  };
  // What Restore handed to no one (restore/policy_restore.h): the VMM cannot
  // apply it, and the diff's "handed to the VMM" does not cover it.
  for (const GuestMemfd& g : frozen.gmems) {
    if (g.policy_source != PolicySource::kVmmMappings) continue;
    size_t left_out = 0;
    (void)MappingPoliciesForVmm(g, &left_out);
    if (left_out)
      part_of(g).AddPart(UnverifiedKind::kNumaPolicyNotHandedOn,
                         "NUMA policy of " + std::to_string(left_out) +
                             " merged VMM mapping range(s) past the first " +
                             std::to_string(kMaxRangesForVmm) +
                             " Restore hands on (of those counted as handed to the VMM): "
                             "handed to no one, not restored");
  }
  for (const GuestMemfd& g : frozen.gmems) {
    if (!rebuilt.count(g.token) || g.provenance == Provenance::kModel) continue;
    // Pages of the frozen file either capture saw nothing of, as the diff
    // compares them: a blob of format 1.0 has no visibility list (every page
    // in full), and the restored file's capture may see none of it.
    const GuestMemfd* now = restored.FindGmem(g.token);
    const uint32_t ps = frozen.header.page_size ? frozen.header.page_size : 4096;
    uint64_t unseen = 0;
    for (const VisibilityRange& r : CombinedVisibility(g, now ? *now : g, g.pages(ps)))
      if (r.visibility == PageVisibility::kNone) unseen += r.count;
    if (unseen == 0) continue;  // what it holds now is compared, and differs
    part_of(g).AddPart(
        UnverifiedKind::kRebuiltMemory,
        std::to_string(unseen) +
            " pages rebuilt as new memory: the blob carries no contents, so what the "
            "guest had there is not in them, and no capture can see them");
  }
  for (const Violation& viol : CheckInvariants(restored)) {
    Difference d;
    d.field = "invariant " + viol.where;
    d.expected = "holds";
    d.found = viol.what;
    v.diff.differences.push_back(std::move(d));
  }
  CutDifferences(&v.diff, DiffOptions().max_differences);
  v.counts = CountCompared(frozen, restored);
  return v;
}

}  // namespace khod
