#include "serializer/older_minors.h"

#include <string>

namespace khod {

namespace {

// No such producer saw a kernel policy's home node: one it names is taken
// back too (only a hostile or broken blob names one).
void HomeNodeNotSeen(Mempolicy* p) {
  p->home_node = -1;
  p->home_node_seen = !ModeCanHaveHomeNode(p->mode);
}

// What CheckPolicySource (state/observation_invariants.h) refuses of a
// policy's home node: such a claim is left for the invariants, not erased.
bool BreaksHomeNodeInvariant(const Mempolicy& p) {
  return !p.home_node_seen && (p.home_node != -1 || !ModeCanHaveHomeNode(p.mode));
}

// A 1.0-1.2 producer's inode policy of a kernel file was one page's (or, of a
// HugeTLB memfd, its own mapping's): never the file's whole shared policy.
void InodePolicyNotRead(GuestMemfd* g, uint16_t minor) {
  if (g->policy_source != PolicySource::kInode || BreaksHomeNodeInvariant(g->policy)) return;
  const std::string version = "format 1." + std::to_string(minor) + ": ";
  g->policy_source = PolicySource::kUnknown;
  g->policy = Mempolicy();
  g->policy_unread =
      g->kind == FileKind::kHugetlbMemfd
          ? version +
                "a HugeTLB memfd keeps no shared policy (each mapping keeps its own); the policy "
                "recorded was khod's own mapping's, not the file's"
          : version + "read at one page (get_mempolicy), not the file's whole shared policy";
}

}  // namespace

void ApplyOlderMinorRules(Snapshot* snap) {
  if (snap->header.format_major != 1 || snap->header.format_minor >= 3) return;
  const uint16_t minor = snap->header.format_minor;
  for (GuestMemfd& g : snap->gmems) {
    if (g.provenance != Provenance::kKernel) continue;
    if (minor < 2) {
      HomeNodeNotSeen(&g.policy);
      for (MappingPolicy& m : g.mapping_policies) HomeNodeNotSeen(&m.policy);
    }
    InodePolicyNotRead(&g, minor);
    if (minor == 0 && g.kind == FileKind::kGuestMemfd) g.flags_known = 0;
  }
}

}  // namespace khod
