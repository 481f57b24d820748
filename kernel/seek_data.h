// The pages of a file that hold data, as lseek(SEEK_DATA/SEEK_HOLE) shows
// them. For shmem that is every uptodate folio in the page cache and every
// page out in swap (mm/filemap.c folio_seek_hole_data: a swap entry in the
// file's mapping is data), but not a folio fallocated and never written.
#ifndef KHOD_KERNEL_SEEK_DATA_H_
#define KHOD_KERNEL_SEEK_DATA_H_

#include <cstdint>
#include <vector>

#include "common/status.h"
#include "kernel/pagemap_scan.h"

namespace khod {

// The pages of `fd` within `ranges` (ordered, disjoint, in pages of
// `page_size` bytes) holding data, in order; a page partly data counts
// whole. Two lseek calls per range with data, one per range without. An
// error names the call.
Result<std::vector<PageSpan>> FileDataPagesIn(int fd, const std::vector<PageSpan>& ranges,
                                              uint64_t page_size);

}  // namespace khod

#endif  // KHOD_KERNEL_SEEK_DATA_H_
