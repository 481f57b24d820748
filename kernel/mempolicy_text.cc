#include "kernel/mempolicy_text.h"

#include <linux/mempolicy.h>

#include <cstdio>

namespace khod {

std::string MempolicyModeName(int32_t mode) {
  switch (mode) {
    case MPOL_DEFAULT:
      return "default";
    case MPOL_PREFERRED:
      return "preferred";
    case MPOL_BIND:
      return "bind";
    case MPOL_INTERLEAVE:
      return "interleave";
    case MPOL_LOCAL:
      return "local";
    case 5:
      return "preferred-many";  // MPOL_PREFERRED_MANY (newer than Debian 12's header)
    case 6:
      return "weighted-interleave";  // MPOL_WEIGHTED_INTERLEAVE (Linux 6.9)
  }
  return "mode " + std::to_string(mode);
}

std::string NodeListText(const std::vector<uint64_t>& nodemask) {
  std::string out;
  const uint64_t nbits = nodemask.size() * 64;
  auto set = [&](uint64_t n) { return (nodemask[n / 64] >> (n % 64) & 1) != 0; };
  for (uint64_t n = 0; n < nbits;) {
    if (!set(n)) {
      ++n;
      continue;
    }
    uint64_t last = n;
    while (last + 1 < nbits && set(last + 1)) ++last;
    if (!out.empty()) out += ',';
    out += std::to_string(n);
    if (last > n) out += "-" + std::to_string(last);
    n = last + 1;
  }
  return out;
}

std::string MempolicyToString(const Mempolicy& p) {
  std::string s = MempolicyModeName(p.mode);
  uint32_t flags = p.mode_flags;
  if (flags & MPOL_F_STATIC_NODES) s += " static";
  if (flags & MPOL_F_RELATIVE_NODES) s += " relative";
  if (flags & MPOL_F_NUMA_BALANCING) s += " balancing";
  flags &=
      ~static_cast<uint32_t>(MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES | MPOL_F_NUMA_BALANCING);
  if (flags) {
    char hex[16];
    std::snprintf(hex, sizeof hex, "%#x", flags);
    s += std::string(" flags=") + hex;
  }
  const std::string nodes = NodeListText(p.nodemask);
  if (!nodes.empty()) s += " nodes=" + nodes;
  if (!p.home_node_seen && ModeCanHaveHomeNode(p.mode))
    s += " home=?";
  else if (p.home_node_seen && p.home_node >= 0)
    s += " home=" + std::to_string(p.home_node);
  return s;
}

}  // namespace khod
