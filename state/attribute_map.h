// AttributeMap: per-page memory attributes of one guest_memfd as a range map,
// the userspace image of the kernel's maple tree (seed: "Memory attributes").
//
// Pages are indexed in PAGE_SIZE units from the start of the file. Each page
// carries a 64-bit attribute word (KVM_MEMORY_ATTRIBUTE_PRIVATE = 1 << 3 is
// the one that matters today). Pages whose word is 0 (shared) are not stored:
// the map holds only non-zero ranges, disjoint, ordered, and with equal-valued
// neighbours coalesced, so its size is the number of runs, not of pages.
#ifndef KHOD_STATE_ATTRIBUTE_MAP_H_
#define KHOD_STATE_ATTRIBUTE_MAP_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <vector>

namespace khod {

constexpr uint64_t kAttrPrivate = 1ull << 3;  // KVM_MEMORY_ATTRIBUTE_PRIVATE

struct AttributeRange {
  uint64_t first;  // first page index
  uint64_t count;  // pages, > 0
  uint64_t value;  // attribute word, != 0
  bool operator==(const AttributeRange& o) const {
    return first == o.first && count == o.count && value == o.value;
  }
};

class AttributeMap {
 public:
  // Sets pages [first, first + count) to value (0 clears). O(log n + k) for k
  // ranges overwritten; coalesces with neighbours of the same value.
  void Set(uint64_t first, uint64_t count, uint64_t value);
  // Attribute word of one page (0 when not stored).
  uint64_t Get(uint64_t page) const;
  // True when every page of [first, first+count) has exactly `value`.
  bool IsUniform(uint64_t first, uint64_t count, uint64_t value) const;
  // Ranges in index order, clipped to [first, first+count); 0-valued gaps omitted.
  void ForEach(uint64_t first, uint64_t count,
               const std::function<void(const AttributeRange&)>& fn) const;
  std::vector<AttributeRange> Ranges() const;
  // Rebuilds from ranges; they must be ordered and disjoint (checked by the
  // decoders before they call this). Coalesces equal neighbours.
  void Assign(const std::vector<AttributeRange>& ranges);
  size_t range_count() const { return ranges_.size(); }
  bool empty() const { return ranges_.empty(); }
  // First page of the first run that is empty or ends before it starts (a
  // wrapped end); nullopt when every run is sound. O(n), no copy.
  std::optional<uint64_t> FirstMalformedRun() const;
  // Index one past the last non-zero page (0 when empty).
  uint64_t end() const;
  void Clear() { ranges_.clear(); }
  bool operator==(const AttributeMap& o) const;
  bool operator!=(const AttributeMap& o) const { return !(*this == o); }

 private:
  struct Run {
    uint64_t end;  // one past the last page
    uint64_t value;
  };
  std::map<uint64_t, Run> ranges_;  // keyed by first page
};

}  // namespace khod

#endif  // KHOD_STATE_ATTRIBUTE_MAP_H_
