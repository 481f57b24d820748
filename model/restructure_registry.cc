#include "model/restructure_registry.h"

#include <iterator>

namespace khod {

RegistryEntry* RestructureRegistry::Find(uint64_t pfn) {
  return const_cast<RegistryEntry*>(static_cast<const RestructureRegistry*>(this)->Find(pfn));
}

const RegistryEntry* RestructureRegistry::Find(uint64_t pfn) const {
  auto it = entries_.upper_bound(pfn);
  if (it == entries_.begin()) return nullptr;
  --it;
  return pfn < it->first + it->second.pages() ? &it->second : nullptr;
}

Status RestructureRegistry::Add(RegistryEntry entry) {
  const uint64_t head = entry.record.head_pfn;
  if (Find(head) != nullptr || Find(head + entry.pages() - 1) != nullptr)
    return Status::InvalidArgument("restructure registry: folio at head pfn " +
                                   std::to_string(head) + " is already registered");
  auto next = entries_.lower_bound(head);
  if (next != entries_.end() && next->first < head + entry.pages())
    return Status::InvalidArgument("restructure registry: folio at head pfn " +
                                   std::to_string(head) + " overlaps another record");
  entries_.emplace(head, std::move(entry));
  return Status::Ok();
}

void RestructureRegistry::ForEach(const std::function<void(const RegistryEntry&)>& fn) const {
  for (const auto& [head, e] : entries_) fn(e);
}

size_t RestructureRegistry::orphaned() const {
  size_t n = 0;
  for (const auto& [head, e] : entries_) n += e.owner == 0;
  return n;
}

}  // namespace khod
