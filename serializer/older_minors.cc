#include "serializer/older_minors.h"

namespace khod {

namespace {

void HomeNodeNotSeen(Mempolicy* p) {
  if (p->home_node == -1 && ModeCanHaveHomeNode(p->mode)) p->home_node_seen = false;
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
