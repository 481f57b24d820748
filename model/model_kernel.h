// ModelKernel: the parts of the MODEL of the kernel that live outside any one
// guest_memfd and outlive its fd: the folio sources (buddy allocator and
// HugeTLB pools), extra page references by PFN, hwpoisoned PFNs, the
// restructure registry and folios still pinned after their file closed.
// Nothing here is per page of guest memory: every table is sparse or a range
// set, so a 12 TiB model guest costs kilobytes when uniform.
#ifndef KHOD_MODEL_MODEL_KERNEL_H_
#define KHOD_MODEL_MODEL_KERNEL_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>

#include "common/status.h"
#include "model/pfn_pool.h"
#include "model/restructure_registry.h"

namespace khod {

constexpr uint8_t kHstateOrder2M = 9;
constexpr uint8_t kHstateOrder1G = 18;

struct ModelKernelConfig {
  uint64_t buddy_pages = uint64_t{1} << 36;        // 256 TiB of PFN space for PAGE_SIZE folios
  uint64_t hugetlb_2m_folios = uint64_t{1} << 23;  // 16 TiB of 2 MiB pages
  uint64_t hugetlb_1g_folios = uint64_t{1} << 14;  // 16 TiB of 1 GiB pages
};

// A model file that holds registry entries; told when the last extra
// reference inside one of its split folios goes, so it can try to merge.
class RestructureOwner {
 public:
  virtual ~RestructureOwner() = default;
  virtual void OnFolioUnpinned(uint64_t head_pfn) = 0;
};

class ModelKernel {
 public:
  explicit ModelKernel(const ModelKernelConfig& config = ModelKernelConfig());
  ModelKernel(const ModelKernel&) = delete;
  ModelKernel& operator=(const ModelKernel&) = delete;

  PfnPool& buddy() { return *buddy_; }
  // The HugeTLB pool of hstate `order` (9 or 18), nullptr otherwise.
  PfnPool* hugetlb(uint8_t order);
  const PfnPool* hugetlb(uint8_t order) const;
  RestructureRegistry& registry() { return registry_; }
  const RestructureRegistry& registry() const { return registry_; }

  // Extra references (users beyond guest_memfd's own: GUP pins, device DMA,
  // transient lookups), by PFN. PutPage on the last reference inside a split
  // huge folio lets its owner merge it, or, when the fd is gone, merges it
  // and returns it to HugeTLB.
  void GetPage(uint64_t pfn) { ++refs_[pfn]; }
  Status PutPage(uint64_t pfn);
  uint32_t RefCount(uint64_t pfn) const;
  bool AnyRef(uint64_t first_pfn, uint64_t count) const;
  void ForEachRef(uint64_t first_pfn, uint64_t count,
                  const std::function<void(uint64_t pfn, uint32_t refs)>& fn) const;
  size_t refcounted_pages() const { return refs_.size(); }

  // memory_failure(pfn): records hwpoison, or queues it on the registry entry
  // when that folio is being restructured (applied when it completes).
  Status MemoryFailure(uint64_t pfn);
  bool IsPoisoned(uint64_t pfn) const { return poisoned_.count(pfn) != 0; }
  bool AnyPoison(uint64_t first_pfn, uint64_t count) const;
  void ForEachPoison(uint64_t first_pfn, uint64_t count,
                     const std::function<void(uint64_t pfn)>& fn) const;
  size_t pending_poison() const;

  // Restructuring bracket: sets in_progress, runs the test hook (where a
  // memory failure can race with the split or merge), then clears it and
  // applies the queued failures.
  void BeginRestructure(RegistryEntry* e);
  void EndRestructure(RegistryEntry* e);
  void set_restructure_hook(std::function<void(const RestructureRecord&)> hook) {
    hook_ = std::move(hook);
  }

  // A folio (not split) whose file closed while it had extra references: it
  // returns to its pool (or is dissolved, if poisoned) on its last PutPage.
  void AddPinnedOrphan(uint64_t head_pfn, uint8_t order);
  size_t pinned_orphans() const { return orphans_.size(); }
  // Registry entry whose fd closed: merge + free now if nothing pins it.
  Status ReleaseOrphanIfUnpinned(uint64_t head_pfn);
  // Frees one unpinned folio to its pool, or dissolves it when poisoned.
  Status ReturnFolio(uint64_t head_pfn, uint8_t order);
  // Frees a run of unpinned, unpoisoned folios to their pool.
  Status FreeRun(uint64_t first_pfn, uint64_t folios, uint8_t order);

  uint64_t RegisterOwner(RestructureOwner* owner);
  void UnregisterOwner(uint64_t id) { owners_.erase(id); }
  uint64_t NextInode() { return next_inode_++; }

 private:
  PfnPool* PoolFor(uint64_t pfn, uint8_t order);

  std::unique_ptr<PfnPool> buddy_, huge_2m_, huge_1g_;
  RestructureRegistry registry_;
  std::map<uint64_t, uint32_t> refs_;  // pfn -> extra references (> 0)
  std::set<uint64_t> poisoned_;
  std::map<uint64_t, uint8_t> orphans_;  // head pfn -> order
  std::map<uint64_t, RestructureOwner*> owners_;
  std::function<void(const RestructureRecord&)> hook_;
  uint64_t next_owner_ = 1;
  uint64_t next_inode_ = 0x10000;
};

}  // namespace khod

#endif  // KHOD_MODEL_MODEL_KERNEL_H_
