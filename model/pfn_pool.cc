#include "model/pfn_pool.h"

#include <algorithm>

#include "common/status_macros.h"
#include "state/snapshot.h"

namespace khod {

PfnPool::PfnPool(std::string name, uint64_t base_pfn, uint64_t folios, uint8_t order)
    : name_(std::move(name)), base_pfn_(base_pfn), total_folios_(folios), order_(order) {
  free_.Insert(base_pfn_, folios << order_);
}

Status PfnPool::CheckRun(uint64_t first_pfn, uint64_t folios, const char* what) const {
  const uint64_t mask = (uint64_t{1} << order_) - 1;
  if (folios == 0 || (first_pfn & mask) != 0 || !Owns(first_pfn) ||
      first_pfn + (folios << order_) > end_pfn())
    return Status::InvalidArgument(std::string(what) + " " + name_ + ": pfn " + Hex(first_pfn) +
                                   " x " + std::to_string(folios) +
                                   " folios is not an aligned run of this pool");
  return Status::Ok();
}

Result<PfnRun> PfnPool::AllocRun(uint64_t max_folios) {
  uint64_t first, count;
  if (max_folios == 0 || !free_.Lowest(&first, &count))
    return Status::FailedPrecondition(name_ + " pool exhausted (" + std::to_string(total_folios_) +
                                      " folios)");
  PfnRun run{first, std::min(max_folios, count >> order_)};
  free_.Erase(run.first_pfn, run.folios << order_);
  return run;
}

Status PfnPool::Claim(uint64_t first_pfn, uint64_t folios) {
  KHOD_RETURN_IF_ERROR(CheckRun(first_pfn, folios, "claim from"));
  if (!free_.ContainsAll(first_pfn, folios << order_))
    return Status::FailedPrecondition("claim from " + name_ + ": pfn " + Hex(first_pfn) + " x " +
                                      std::to_string(folios) + " folios is not free");
  free_.Erase(first_pfn, folios << order_);
  return Status::Ok();
}

Status PfnPool::Free(uint64_t first_pfn, uint64_t folios) {
  KHOD_RETURN_IF_ERROR(CheckRun(first_pfn, folios, "free to"));
  if (free_.ContainsAny(first_pfn, folios << order_))
    return Status::InvalidArgument("free to " + name_ + ": pfn " + Hex(first_pfn) +
                                   " is already free (double free)");
  free_.Insert(first_pfn, folios << order_);
  return Status::Ok();
}

Status PfnPool::Dissolve(uint64_t first_pfn) {
  KHOD_RETURN_IF_ERROR(CheckRun(first_pfn, 1, "dissolve in"));
  if (free_.ContainsAny(first_pfn, uint64_t{1} << order_))
    return Status::InvalidArgument("dissolve in " + name_ + ": pfn " + Hex(first_pfn) + " is free");
  ++dissolved_folios_;
  return Status::Ok();
}

}  // namespace khod
