#include "kernel/mempolicy_fields.h"

#include <linux/mempolicy.h>

namespace khod {

namespace {
// Newer than Debian 12's <linux/mempolicy.h>.
constexpr int kPreferredMany = 5;              // MPOL_PREFERRED_MANY
constexpr int kWeightedInterleave = 6;         // MPOL_WEIGHTED_INTERLEAVE
constexpr uint32_t kNumaBalancing = 1u << 13;  // MPOL_F_NUMA_BALANCING
}  // namespace

std::optional<Mempolicy> MempolicyFromFields(const MempolicyFields& f) {
  if (f.nodes_cut) return std::nullopt;
  bool prints_nodes = false;
  switch (f.mode) {
    case MPOL_DEFAULT:
    case MPOL_LOCAL:
      break;
    case MPOL_PREFERRED:
    case MPOL_BIND:
    case MPOL_INTERLEAVE:
    case kPreferredMany:
    case kWeightedInterleave:
      prints_nodes = true;
      break;
    default:
      return std::nullopt;
  }
  Mempolicy out;
  out.mode = f.mode;
  if ((f.mode_flags & MPOL_F_STATIC_NODES) != 0)
    out.mode_flags |= MPOL_F_STATIC_NODES;
  else if ((f.mode_flags & MPOL_F_RELATIVE_NODES) != 0)
    out.mode_flags |= MPOL_F_RELATIVE_NODES;
  out.mode_flags |= f.mode_flags & kNumaBalancing;
  if (f.has_home_node) out.home_node = f.home_node;
  out.home_node_seen = true;
  if (prints_nodes) {
    out.nodemask = f.nodes;
    while (!out.nodemask.empty() && out.nodemask.back() == 0) out.nodemask.pop_back();
  }
  return out;
}

}  // namespace khod
