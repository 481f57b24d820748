#include "state/merged_mappings.h"

#include <map>
#include <tuple>

namespace khod {

std::vector<MappingPolicy> MergedMappings(const std::vector<MappingPolicy>& v, uint32_t page_size) {
  const uint64_t ps = page_size ? page_size : 4096;
  std::vector<MappingPolicy> out;
  // Where each mapping of `out` would continue: (pid, end index, end address).
  std::map<std::tuple<int32_t, uint64_t, uint64_t>, size_t> next;
  auto key = [&](const MappingPolicy& m) {
    return std::make_tuple(m.pid, m.end_index(), m.start_address + m.count * ps);
  };
  for (const MappingPolicy& m : v) {
    auto it = next.find({m.pid, m.first_index, m.start_address});
    if (it != next.end() && out[it->second].policy == m.policy) {
      const size_t i = it->second;
      next.erase(it);
      out[i].count += m.count;
      next[key(out[i])] = i;
      continue;
    }
    out.push_back(m);
    next[key(m)] = out.size() - 1;
  }
  return out;
}

size_t MappingsWithPolicy(const std::vector<MappingPolicy>& v, uint32_t page_size) {
  size_t n = 0;
  for (const MappingPolicy& m : MergedMappings(v, page_size)) n += m.policy.mode != 0;
  return n;
}

}  // namespace khod
