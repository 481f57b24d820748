// PfnPool: the model's fake physical memory for one folio size. The buddy
// allocator is a pool of order-0 folios, each HugeTLB hstate a pool of
// order-9 or order-18 folios. PFNs are deterministic (lowest free first) and
// huge folios are naturally aligned and contiguous, so captures from the model
// carry PFNs like captures from the kernel, and a restore can claim back the
// exact PFNs a snapshot names (what KHO guarantees across kexec).
#ifndef KHOD_MODEL_PFN_POOL_H_
#define KHOD_MODEL_PFN_POOL_H_

#include <cstdint>
#include <string>

#include "common/status.h"
#include "model/interval_set.h"

namespace khod {

struct PfnRun {
  uint64_t first_pfn = 0;
  uint64_t folios = 0;
};

class PfnPool {
 public:
  // `folios` folios of 2^order pages, the first at `base_pfn` (aligned).
  PfnPool(std::string name, uint64_t base_pfn, uint64_t folios, uint8_t order);

  // Lowest free run of up to `max_folios` folios. FailedPrecondition when the
  // pool is empty (the model's ENOMEM).
  Result<PfnRun> AllocRun(uint64_t max_folios);
  // Takes exactly [first_pfn, +folios) out of the free set (restore).
  Status Claim(uint64_t first_pfn, uint64_t folios);
  // Gives folios back. InvalidArgument when not ours or already free.
  Status Free(uint64_t first_pfn, uint64_t folios);
  // A folio with a hwpoisoned page never returns to the pool (HugeTLB
  // dissolves it and the bad page is leaked); counted, so leak checks can
  // tell "lost to poison" from "leaked".
  Status Dissolve(uint64_t first_pfn);

  bool Owns(uint64_t pfn) const { return pfn >= base_pfn_ && pfn < end_pfn(); }
  const std::string& name() const { return name_; }
  uint8_t order() const { return order_; }
  uint64_t base_pfn() const { return base_pfn_; }
  uint64_t end_pfn() const { return base_pfn_ + (total_folios_ << order_); }
  uint64_t total_folios() const { return total_folios_; }
  uint64_t free_folios() const { return free_.total() >> order_; }
  uint64_t dissolved_folios() const { return dissolved_folios_; }
  uint64_t used_folios() const { return total_folios_ - free_folios() - dissolved_folios_; }
  size_t free_range_count() const { return free_.range_count(); }

 private:
  Status CheckRun(uint64_t first_pfn, uint64_t folios, const char* what) const;

  std::string name_;
  uint64_t base_pfn_;
  uint64_t total_folios_;
  uint8_t order_;
  IntervalSet free_;  // in PFNs; every range folio-aligned
  uint64_t dissolved_folios_ = 0;
};

}  // namespace khod

#endif  // KHOD_MODEL_PFN_POOL_H_
