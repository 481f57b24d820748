#include "daemon/status_vmm_policies.h"

#include <string>

#include "kernel/mempolicy_text.h"

namespace khod {

size_t AppendVmmPolicies(const std::vector<MappingPolicy>& ranges, size_t* budget,
                         v1::GmemInfo* info) {
  size_t listed = 0;
  for (const MappingPolicy& m : ranges) {
    if (budget != nullptr && *budget == 0) break;
    v1::VmmPolicy* p = info->add_vmm_policies();
    p->set_first_page(m.first_index);
    p->set_pages(m.count);
    p->set_mode(m.policy.mode);
    p->set_mode_flags(m.policy.mode_flags);
    for (uint64_t w : m.policy.nodemask) p->add_nodemask(w);
    if (m.policy.home_node_seen && m.policy.home_node >= 0) p->set_home_node(m.policy.home_node);
    p->set_home_node_seen(m.policy.home_node_seen);
    p->set_text(MempolicyToString(m.policy));
    if (budget != nullptr) --*budget;
    ++listed;
  }
  if (listed < ranges.size())
    info->set_policy_note(info->policy_note() + (info->policy_note().empty() ? "" : "; ") +
                          std::to_string(ranges.size() - listed) + " of its " +
                          std::to_string(ranges.size()) +
                          " ranges to bind are not listed here: a status lists at most " +
                          std::to_string(kMaxVmmPoliciesInStatus) + " over all gmems");
  return listed;
}

}  // namespace khod
