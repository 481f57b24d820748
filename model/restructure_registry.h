// RestructureRegistry: HugeTLB restructuring metadata kept OUTSIDE any file
// object, keyed by the huge folio's head PFN. The seed: "Split folios may
// outlive guest_memfd, may even outlive KVM ... Hence there is more folio
// metadata tracked outside of KVM" (original size, memcg). A record stays here
// after its fd closes, until its pieces are unpinned and merged back, and
// memory failure handling looks PFNs up here to recognise guest_memfd HugeTLB
// folios and to see a restructure in progress.
#ifndef KHOD_MODEL_RESTRUCTURE_REGISTRY_H_
#define KHOD_MODEL_RESTRUCTURE_REGISTRY_H_

#include <cstdint>
#include <functional>
#include <map>
#include <vector>

#include "common/status.h"
#include "state/snapshot.h"

namespace khod {

struct RegistryEntry {
  RestructureRecord record;  // record.index: where it sits (or last sat) in its file
  uint64_t owner = 0;        // id of the model file holding it; 0 once that fd closed
  // Memory failures that arrived while record.in_progress; applied when the
  // restructure completes so none is lost.
  std::vector<uint64_t> pending_poison;

  uint64_t pages() const { return uint64_t{1} << record.original_order; }
};

class RestructureRegistry {
 public:
  // The entry whose original huge folio contains `pfn`, or nullptr.
  RegistryEntry* Find(uint64_t pfn);
  const RegistryEntry* Find(uint64_t pfn) const;
  // InvalidArgument when an entry for an overlapping folio exists already.
  Status Add(RegistryEntry entry);
  void Remove(uint64_t head_pfn) { entries_.erase(head_pfn); }
  void ForEach(const std::function<void(const RegistryEntry&)>& fn) const;
  size_t size() const { return entries_.size(); }
  size_t orphaned() const;

 private:
  std::map<uint64_t, RegistryEntry> entries_;  // by head PFN
};

}  // namespace khod

#endif  // KHOD_MODEL_RESTRUCTURE_REGISTRY_H_
