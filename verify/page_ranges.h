// Sets of page ranges [first, end) as the verdict counts them: the pages
// found different, not observed by both sides, or holding an unseen PFN.
#ifndef KHOD_VERIFY_PAGE_RANGES_H_
#define KHOD_VERIFY_PAGE_RANGES_H_

#include <cstdint>
#include <utility>
#include <vector>

namespace khod {

// Page ranges [first, end); "ordered" means sorted and disjoint.
using PageRanges = std::vector<std::pair<uint64_t, uint64_t>>;

// `r` sorted, with ranges that overlap or touch merged into one: ordered,
// and no two adjacent.
PageRanges Merged(PageRanges r);

// The first range of ordered `r` that ends after `first`.
PageRanges::const_iterator FirstEndingAfter(const PageRanges& r, uint64_t first);

// Pages of [first, end) in ordered `r`.
uint64_t Overlap(const PageRanges& r, uint64_t first, uint64_t end);

// Pages in ordered `r`.
uint64_t PageCount(const PageRanges& r);

// The pages of ordered `a` in ordered `b`, and those not in it: ordered.
PageRanges Intersected(const PageRanges& a, const PageRanges& b);
PageRanges Without(const PageRanges& a, const PageRanges& b);

}  // namespace khod

#endif  // KHOD_VERIFY_PAGE_RANGES_H_
