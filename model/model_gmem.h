// ModelGuestMemfd: a MODEL of one guest_memfd with the kernel features still
// in flight (seed: guest_memfd-hugetlb-overview): per-page shared/private
// conversions and HugeTLB backing with folio restructuring. It stands in for
// the kernel on machines without them and says so wherever it shows
// (Describe() starts with "MODEL", captures carry Provenance::kModel).
//
// Conversion flow (seed steps 3-6, both directions), Convert():
//   - refuse with Status::Busy, naming the pages, while any folio touching the
//     range has extra references (refcount != guest_memfd's own). A reference
//     on a huge folio that is not split counts for the whole folio: the kernel
//     cannot tell which page it was taken for;
//   - on shared -> private, unmap the range from userspace first;
//   - split a huge folio the range covers only partially, so per-page
//     references can be told apart afterwards; record the new attribute;
//   - merge split folios whose range is uniform again and unpinned.
// KHO rule: after Preserve() no folio may be split or merged: a conversion
// that needs a split is refused (FailedPrecondition), merges wait until
// Unpreserve().
#ifndef KHOD_MODEL_MODEL_GMEM_H_
#define KHOD_MODEL_MODEL_GMEM_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "model/filemap.h"
#include "model/interval_set.h"
#include "model/model_kernel.h"
#include "state/attribute_map.h"
#include "state/snapshot.h"

namespace khod {

constexpr uint64_t kGmemFlagMmap = 1;        // GUEST_MEMFD_FLAG_MMAP
constexpr uint64_t kGmemFlagInitShared = 2;  // GUEST_MEMFD_FLAG_INIT_SHARED
constexpr uint32_t kModelPageSize = 4096;

struct ModelGmemOptions {
  uint64_t token = 0;
  std::string name;
  uint64_t size = 0;  // bytes
  uint64_t flags = kGmemFlagMmap | kGmemFlagInitShared;
  Backing backing = Backing::kBuddy;
  uint8_t hstate_order = 0;  // 9 or 18 with Backing::kHugetlb
  uint64_t memcg_id = 1;
  uint64_t vm_token = 0;
  bool populate = true;  // fallocate the whole file at creation
};

struct PageRange {
  uint64_t first = 0;
  uint64_t count = 0;
  uint64_t end() const { return first + count; }
  bool operator==(const PageRange& o) const { return first == o.first && count == o.count; }
};

class ModelGuestMemfd : public RestructureOwner {
 public:
  static Result<std::unique_ptr<ModelGuestMemfd>> Create(ModelKernel* kernel,
                                                         const ModelGmemOptions& opts);
  ~ModelGuestMemfd() override;
  ModelGuestMemfd(const ModelGuestMemfd&) = delete;
  ModelGuestMemfd& operator=(const ModelGuestMemfd&) = delete;

  // fallocate(KEEP_SIZE): populates the holes of [first, first+count).
  Status Allocate(uint64_t first, uint64_t count);
  // SET_MEMORY_ATTRIBUTES on [first, first+count), see the file comment.
  Status Convert(uint64_t first, uint64_t count, bool to_private);
  // Pages of [first, first+count) that would make a conversion fail.
  std::vector<PageRange> BusyPages(uint64_t first, uint64_t count) const;
  // Userspace faults pages into its mapping (shared pages only: a private
  // page is FailedPrecondition, the SIGBUS of the seed).
  Status Map(uint64_t first, uint64_t count);
  Status Unmap(uint64_t first, uint64_t count);
  // An extra reference on the page at `index` (GUP pin, DMA, ...).
  Status TakeRef(uint64_t index);
  Status DropRef(uint64_t index);
  // memory_failure() on the page at `index`.
  Status Poison(uint64_t index);
  // KHO preservation of every folio (after this, no split or merge).
  Status Preserve();
  Status Unpreserve();
  // close() of the last fd: folios go back to their pools, except those still
  // pinned, which stay with the ModelKernel (split ones in the registry)
  // until their last reference goes. Every later call is FailedPrecondition.
  void Close();

  Result<uint64_t> PfnOf(uint64_t index) const;
  void set_mempolicy(const Mempolicy& p) { policy_ = p; }
  // Capture: the snapshot view of this file (Provenance::kModel).
  void Fill(GuestMemfd* out) const;
  std::string Describe() const;

  bool closed() const { return closed_; }
  bool preserved() const { return preserved_; }
  uint64_t pages() const { return opts_.size / kModelPageSize; }
  const ModelGmemOptions& options() const { return opts_; }
  const AttributeMap& attributes() const { return attributes_; }
  const IntervalSet& mapped() const { return mapped_; }
  const Filemap& filemap() const { return filemap_; }
  // Split huge folios of this file: file index -> head PFN (registry key).
  const std::map<uint64_t, uint64_t>& split_folios() const { return split_; }
  uint64_t owner_id() const { return owner_id_; }
  ModelKernel* kernel() const { return kernel_; }

  void OnFolioUnpinned(uint64_t head_pfn) override;

 private:
  friend Result<std::unique_ptr<ModelGuestMemfd>> RestoreModel(ModelKernel* kernel,
                                                               const GuestMemfd& g);
  struct Folio {
    uint64_t index;
    uint64_t pfn;
    uint8_t order;
    uint64_t pages() const { return uint64_t{1} << order; }
  };
  ModelGuestMemfd(ModelKernel* kernel, const ModelGmemOptions& opts);
  Status CheckUsable(uint64_t first, uint64_t count) const;
  bool FolioAt(uint64_t index, Folio* out) const;
  bool UniformPrivate(uint64_t first, uint64_t count, bool is_private) const;
  bool IsHugetlb() const { return opts_.backing == Backing::kHugetlb; }
  Status Split(const Folio& f);
  void TryMerge(uint64_t index);
  void TryMergeIn(uint64_t first, uint64_t count);
  std::vector<SplitRun> LayoutOf(uint64_t index, uint8_t order) const;
  void ReleaseRun(const FilemapExtent& e);

  ModelKernel* kernel_;
  ModelGmemOptions opts_;
  uint64_t inode_;
  uint64_t owner_id_;
  Mempolicy policy_;
  Filemap filemap_;
  AttributeMap attributes_;
  IntervalSet mapped_;                  // pages mapped into userspace
  std::map<uint64_t, uint64_t> split_;  // index -> head pfn
  std::vector<ContentHash> hashes_;     // carried from a restored snapshot
  bool preserved_ = false;
  bool restructuring_ = false;
  bool closed_ = false;
};

}  // namespace khod

#endif  // KHOD_MODEL_MODEL_GMEM_H_
