#include "model/model_kernel.h"

#include <iterator>

namespace khod {
namespace {

constexpr uint64_t kBuddyBasePfn = uint64_t{1} << 20;  // 4 GiB: keep PFN 0 area unused

uint64_t AlignUp(uint64_t v, uint8_t order) {
  const uint64_t a = uint64_t{1} << order;
  return (v + a - 1) & ~(a - 1);
}

}  // namespace

ModelKernel::ModelKernel(const ModelKernelConfig& config) {
  buddy_ = std::make_unique<PfnPool>("MODEL buddy", kBuddyBasePfn, config.buddy_pages, 0);
  const uint64_t base_2m = AlignUp(buddy_->end_pfn(), kHstateOrder1G);
  huge_2m_ = std::make_unique<PfnPool>("MODEL hugetlb-2MB", base_2m, config.hugetlb_2m_folios,
                                       kHstateOrder2M);
  const uint64_t base_1g = AlignUp(huge_2m_->end_pfn(), kHstateOrder1G);
  huge_1g_ = std::make_unique<PfnPool>("MODEL hugetlb-1GB", base_1g, config.hugetlb_1g_folios,
                                       kHstateOrder1G);
}

PfnPool* ModelKernel::hugetlb(uint8_t order) {
  return const_cast<PfnPool*>(static_cast<const ModelKernel*>(this)->hugetlb(order));
}

const PfnPool* ModelKernel::hugetlb(uint8_t order) const {
  if (order == kHstateOrder2M) return huge_2m_.get();
  if (order == kHstateOrder1G) return huge_1g_.get();
  return nullptr;
}

PfnPool* ModelKernel::PoolFor(uint64_t pfn, uint8_t order) {
  for (PfnPool* p : {buddy_.get(), huge_2m_.get(), huge_1g_.get()})
    if (p->Owns(pfn) && p->order() == order) return p;
  return nullptr;
}

Status ModelKernel::PutPage(uint64_t pfn) {
  auto it = refs_.find(pfn);
  if (it == refs_.end())
    return Status::FailedPrecondition("MODEL put_page: pfn " + std::to_string(pfn) +
                                      " holds no extra reference");
  if (--it->second > 0) return Status::Ok();
  refs_.erase(it);
  if (const RegistryEntry* e = registry_.Find(pfn)) {
    const uint64_t head = e->record.head_pfn;
    if (AnyRef(head, e->pages())) return Status::Ok();
    if (e->owner == 0) return ReleaseOrphanIfUnpinned(head);
    auto owner = owners_.find(e->owner);
    if (owner != owners_.end()) owner->second->OnFolioUnpinned(head);
    return Status::Ok();
  }
  auto orphan = orphans_.upper_bound(pfn);
  if (orphan == orphans_.begin()) return Status::Ok();
  --orphan;
  const uint64_t pages = uint64_t{1} << orphan->second;
  if (pfn >= orphan->first + pages || AnyRef(orphan->first, pages)) return Status::Ok();
  const uint64_t head = orphan->first;
  const uint8_t order = orphan->second;
  orphans_.erase(orphan);
  return ReturnFolio(head, order);
}

uint32_t ModelKernel::RefCount(uint64_t pfn) const {
  auto it = refs_.find(pfn);
  return it == refs_.end() ? 0 : it->second;
}

bool ModelKernel::AnyRef(uint64_t first_pfn, uint64_t count) const {
  auto it = refs_.lower_bound(first_pfn);
  return it != refs_.end() && it->first < first_pfn + count;
}

void ModelKernel::ForEachRef(uint64_t first_pfn, uint64_t count,
                             const std::function<void(uint64_t, uint32_t)>& fn) const {
  for (auto it = refs_.lower_bound(first_pfn); it != refs_.end() && it->first < first_pfn + count;
       ++it)
    fn(it->first, it->second);
}

Status ModelKernel::MemoryFailure(uint64_t pfn) {
  if (RegistryEntry* e = registry_.Find(pfn); e != nullptr && e->record.in_progress) {
    e->pending_poison.push_back(pfn);
    return Status::Ok();
  }
  poisoned_.insert(pfn);
  return Status::Ok();
}

bool ModelKernel::AnyPoison(uint64_t first_pfn, uint64_t count) const {
  auto it = poisoned_.lower_bound(first_pfn);
  return it != poisoned_.end() && *it < first_pfn + count;
}

void ModelKernel::ForEachPoison(uint64_t first_pfn, uint64_t count,
                                const std::function<void(uint64_t)>& fn) const {
  for (auto it = poisoned_.lower_bound(first_pfn); it != poisoned_.end() && *it < first_pfn + count;
       ++it)
    fn(*it);
}

size_t ModelKernel::pending_poison() const {
  size_t n = 0;
  registry_.ForEach([&](const RegistryEntry& e) { n += e.pending_poison.size(); });
  return n;
}

void ModelKernel::BeginRestructure(RegistryEntry* e) {
  e->record.in_progress = true;
  if (hook_) hook_(e->record);
}

void ModelKernel::EndRestructure(RegistryEntry* e) {
  e->record.in_progress = false;
  for (uint64_t pfn : e->pending_poison) poisoned_.insert(pfn);
  e->pending_poison.clear();
}

void ModelKernel::AddPinnedOrphan(uint64_t head_pfn, uint8_t order) { orphans_[head_pfn] = order; }

Status ModelKernel::ReleaseOrphanIfUnpinned(uint64_t head_pfn) {
  RegistryEntry* e = registry_.Find(head_pfn);
  if (e == nullptr || e->owner != 0 || AnyRef(head_pfn, e->pages())) return Status::Ok();
  // Split folios have to be merged before they return to HugeTLB.
  const uint8_t order = e->record.original_order;
  if (!AnyPoison(head_pfn, e->pages())) {
    BeginRestructure(e);
    EndRestructure(e);  // a failure queued during the merge lands in poisoned_
  }
  registry_.Remove(head_pfn);
  return ReturnFolio(head_pfn, order);
}

Status ModelKernel::ReturnFolio(uint64_t head_pfn, uint8_t order) {
  PfnPool* pool = PoolFor(head_pfn, order);
  if (pool == nullptr)
    return Status::Internal("MODEL: pfn " + std::to_string(head_pfn) + " order " +
                            std::to_string(order) + " belongs to no pool");
  if (AnyPoison(head_pfn, uint64_t{1} << order)) return pool->Dissolve(head_pfn);
  return pool->Free(head_pfn, 1);
}

Status ModelKernel::FreeRun(uint64_t first_pfn, uint64_t folios, uint8_t order) {
  PfnPool* pool = PoolFor(first_pfn, order);
  if (pool == nullptr)
    return Status::Internal("MODEL: pfn " + std::to_string(first_pfn) + " order " +
                            std::to_string(order) + " belongs to no pool");
  return pool->Free(first_pfn, folios);
}

uint64_t ModelKernel::RegisterOwner(RestructureOwner* owner) {
  owners_[next_owner_] = owner;
  return next_owner_++;
}

}  // namespace khod
