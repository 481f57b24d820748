#include "model/model_invariants.h"

#include <string>

namespace khod {

void CheckPrivateNotMapped(const ModelGuestMemfd& f, std::vector<Violation>* out) {
  f.mapped().ForEach(0, f.pages(), [&](uint64_t first, uint64_t count) {
    f.attributes().ForEach(first, count, [&](const AttributeRange& r) {
      if (r.value & kAttrPrivate)
        out->push_back({f.Describe() + " mapping [" + std::to_string(r.first) + ", +" +
                            std::to_string(r.count) + ")",
                        "private pages are mapped into userspace"});
    });
  });
}

void CheckRegistryAgrees(const ModelGuestMemfd& f, std::vector<Violation>* out) {
  size_t owned = 0;
  f.kernel()->registry().ForEach([&](const RegistryEntry& e) { owned += e.owner == f.owner_id(); });
  if (owned != f.split_folios().size())
    out->push_back({f.Describe() + " registry", "registry holds " + std::to_string(owned) +
                                                    " records of this file, the file " +
                                                    std::to_string(f.split_folios().size())});
  for (const auto& [index, head] : f.split_folios()) {
    const std::string where = f.Describe() + " split folio at index " + std::to_string(index);
    const RegistryEntry* e = f.kernel()->registry().Find(head);
    if (e == nullptr || e->record.head_pfn != head) {
      out->push_back({where, "no registry record for head pfn " + std::to_string(head)});
      continue;
    }
    if (e->owner != f.owner_id()) out->push_back({where, "record owned by another file"});
    if (e->record.index != index)
      out->push_back({where, "record says index " + std::to_string(e->record.index)});
    if (e->record.in_progress) out->push_back({where, "restructure left in progress"});
    if (!e->pending_poison.empty()) out->push_back({where, "memory failures left queued"});
  }
}

std::vector<Violation> CheckModelGmem(const ModelGuestMemfd& f) {
  std::vector<Violation> out;
  if (f.closed()) return out;
  GuestMemfd g;
  f.Fill(&g);
  CheckGmem(g, kModelPageSize, &out);
  CheckPrivateNotMapped(f, &out);
  CheckRegistryAgrees(f, &out);
  return out;
}

}  // namespace khod
