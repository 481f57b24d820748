// Filemap: the model guest_memfd's page cache, as extents of equal folios
// (same order, same base flags) contiguous in file index and in PFN. A
// uniform 12 TiB file is one extent; splitting a huge folio carves at most
// three extents out of one, so memory follows the number of extents.
#ifndef KHOD_MODEL_FILEMAP_H_
#define KHOD_MODEL_FILEMAP_H_

#include <cstdint>
#include <functional>
#include <map>

namespace khod {

struct FilemapExtent {
  uint64_t first_index = 0;
  uint64_t pages = 0;  // multiple of 2^order
  uint64_t first_pfn = 0;
  uint8_t order = 0;
  uint8_t flags = 0;  // FolioFlag bits kept with the folio (not hwpoison: see ModelKernel)

  uint64_t end_index() const { return first_index + pages; }
  uint64_t PfnOf(uint64_t index) const { return first_pfn + (index - first_index); }
};

class Filemap {
 public:
  // Adds folios over a hole. The caller guarantees [first, first+pages) is a hole.
  void Insert(const FilemapExtent& e);
  // The extent holding `index`, or false for a hole.
  bool Find(uint64_t index, FilemapExtent* out) const;
  // Extents intersecting [first, first+count), unclipped, in index order.
  void ForEach(uint64_t first, uint64_t count,
               const std::function<void(const FilemapExtent&)>& fn) const;
  // Holes inside [first, first+count), in order.
  void ForEachHole(uint64_t first, uint64_t count,
                   const std::function<void(uint64_t first, uint64_t count)>& fn) const;
  // Re-folds populated pages [first, first+count) into folios of `order`
  // (split: smaller, merge: larger). The range must be populated, contiguous in
  // PFN and aligned to both orders; the caller checks.
  void SetOrder(uint64_t first, uint64_t count, uint8_t order);
  // Drops [first, first+count) (truncate).
  void Remove(uint64_t first, uint64_t count);
  size_t extent_count() const { return extents_.size(); }
  void Clear() { extents_.clear(); }

 private:
  struct Ext {
    uint64_t pages;
    uint64_t first_pfn;
    uint8_t order;
    uint8_t flags;
  };
  // Makes `index` an extent boundary (no-op in a hole or at a boundary).
  void CarveAt(uint64_t index);
  // Merges the extent at `first` with equal neighbours.
  void Coalesce(uint64_t first);
  static FilemapExtent View(uint64_t first, const Ext& e) {
    return FilemapExtent{first, e.pages, e.first_pfn, e.order, e.flags};
  }

  std::map<uint64_t, Ext> extents_;  // by first index
};

}  // namespace khod

#endif  // KHOD_MODEL_FILEMAP_H_
