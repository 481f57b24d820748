// IntervalSet: a set of uint64 values stored as disjoint, coalesced half-open
// ranges [first, end). The model keeps everything that could be per page
// (free PFNs, pages mapped to userspace) in one of these, so its memory grows
// with the number of ranges, never with guest size.
#ifndef KHOD_MODEL_INTERVAL_SET_H_
#define KHOD_MODEL_INTERVAL_SET_H_

#include <cstdint>
#include <functional>
#include <map>

namespace khod {

class IntervalSet {
 public:
  void Insert(uint64_t first, uint64_t count);
  void Erase(uint64_t first, uint64_t count);
  // True when every value of [first, first + count) is in the set.
  bool ContainsAll(uint64_t first, uint64_t count) const;
  // True when some value of [first, first + count) is in the set.
  bool ContainsAny(uint64_t first, uint64_t count) const;
  bool Contains(uint64_t v) const { return ContainsAny(v, 1); }
  // Ranges clipped to [first, first + count), in order.
  void ForEach(uint64_t first, uint64_t count,
               const std::function<void(uint64_t first, uint64_t count)>& fn) const;
  // The lowest range (unclipped); false when empty.
  bool Lowest(uint64_t* first, uint64_t* count) const;
  uint64_t total() const { return total_; }
  size_t range_count() const { return ranges_.size(); }
  bool empty() const { return ranges_.empty(); }

 private:
  std::map<uint64_t, uint64_t> ranges_;  // first -> end
  uint64_t total_ = 0;
};

}  // namespace khod

#endif  // KHOD_MODEL_INTERVAL_SET_H_
