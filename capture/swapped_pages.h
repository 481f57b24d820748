// shmem pages out in swap, which a capture must not take for holes.
//
// A page of a shmem memfd written out to swap is shown neither by pagemap
// (its PTEs are gone) nor by mincore (unless it is still in the swap cache),
// so the scan finds no page there, while the file still holds its data: a
// verdict would speak of memory khod never saw. lseek(SEEK_DATA) counts a
// swap entry as data (kernel/seek_data.h). The rule: a page in a gap of the
// scan's extents that holds data, and that mincore still shows not resident
// after the scan, is out in swap (a page written after the scan passed it
// is resident). Such a capture is refused, naming the pages and the way out
// (keep the guest's memory resident). Only the gaps are asked: a file the
// scan found whole costs nothing. guest_memfd and HugeTLB pages are never
// swapped.
#ifndef KHOD_CAPTURE_SWAPPED_PAGES_H_
#define KHOD_CAPTURE_SWAPPED_PAGES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "kernel/pagemap_scan.h"
#include "state/folio_list.h"

namespace khod {

// Whether the host has any swap (sysinfo's totalswap, zram and zswap's
// backing included): without it no page is out in swap, and nothing needs
// to be looked for.
bool HostHasSwap();

// The pages of [0, total) no extent of `seen` (ordered by first_index)
// covers, in order.
std::vector<PageSpan> GapsOf(const FolioList& seen, uint64_t total);

// The pages of `data` whose `resident` byte (mincore's, indexed from page
// `first_page`) has bit 0 clear, in order.
std::vector<PageSpan> NotResident(const std::vector<PageSpan>& data, uint64_t first_page,
                                  const std::vector<uint8_t>& resident);

// The pages out in swap of the file `fd` mapped whole at `mapping`, per the
// rule above, after a scan that found `seen`.
Result<std::vector<PageSpan>> SwappedOutPages(int fd, const uint8_t* mapping, const FolioList& seen,
                                              uint64_t total, uint64_t page_size);

// OK when `unseen` is empty; else FailedPrecondition naming `what`, how many
// pages, the first ranges and the way out.
Status RefuseSwappedOut(const std::string& what, const std::vector<PageSpan>& unseen);

}  // namespace khod

#endif  // KHOD_CAPTURE_SWAPPED_PAGES_H_
