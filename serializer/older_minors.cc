#include "serializer/older_minors.h"

namespace khod {

namespace {

// No such producer saw a kernel policy's home node: one it names is taken
// back too (only a hostile or broken blob names one).
void HomeNodeNotSeen(Mempolicy* p) {
  p->home_node = -1;
  p->home_node_seen = !ModeCanHaveHomeNode(p->mode);
}

}  // namespace

void ApplyOlderMinorRules(Snapshot* snap) {
  if (snap->header.format_major != 1 || snap->header.format_minor >= 2) return;
  for (GuestMemfd& g : snap->gmems) {
    if (g.provenance != Provenance::kKernel) continue;
    HomeNodeNotSeen(&g.policy);
    for (MappingPolicy& m : g.mapping_policies) HomeNodeNotSeen(&m.policy);
  }
}

}  // namespace khod
