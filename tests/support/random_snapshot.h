// Random but valid snapshots for property tests, fuzzer seeds and benchmarks.
// Every snapshot produced passes CheckInvariants; the shapes cover the cases
// the formats must get right (empty guests, one page, sparse and fragmented
// filemaps, 2 MiB / 1 GiB HugeTLB folios, restructured huge folios, thousands
// of attribute ranges, unknown PFNs, memslots).
#ifndef KHOD_TESTS_SUPPORT_RANDOM_SNAPSHOT_H_
#define KHOD_TESTS_SUPPORT_RANDOM_SNAPSHOT_H_

#include <cstdint>
#include <random>

#include "state/snapshot.h"

namespace khod {

enum class GmemShape {
  kEmpty,           // size 0, nothing populated
  kOnePage,         // one 4 KiB folio
  kSparse,          // few runs far apart in a large file
  kFragmented,      // single-folio extents, no two PFNs contiguous
  kBuddyRuns,       // PFN runs of ~214 pages (the pattern measured on this machine)
  kHugetlb2M,       // 2 MiB folios, some restructured (split)
  kHugetlb1G,       // 1 GiB folios
  kManyAttributes,  // thousands of private/shared ranges
};
constexpr int kGmemShapeCount = 8;

// One guest_memfd of the given shape. `token` must be unique in its snapshot.
GuestMemfd RandomGmem(std::mt19937_64& rng, GmemShape shape, uint64_t token,
                      uint32_t page_size = 4096);

// 0-3 VMs, 0-6 gmems of random shapes (some bound to VMs with memslots).
Snapshot RandomSnapshot(uint64_t seed);

}  // namespace khod

#endif  // KHOD_TESTS_SUPPORT_RANDOM_SNAPSHOT_H_
