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

// The pages of [0, npages) of `fd` holding data, in pages of `page_size`
// bytes, in order; a page partly data counts whole. An error names the call.
Result<std::vector<PageSpan>> FileDataPages(int fd, uint64_t npages, uint64_t page_size);

}  // namespace khod

#endif  // KHOD_KERNEL_SEEK_DATA_H_
