// shmem pages out in swap, which a capture must not take for holes.
//
// A page of a shmem memfd written out to swap is shown neither by pagemap
// (its PTEs are gone) nor by mincore (unless it is still in the swap cache),
// so the scan finds no page there, while the file still holds its data: a
// verdict would speak of memory khod never saw. lseek(SEEK_DATA) counts a
// swap entry as data (kernel/seek_data.h). The rule: a page that holds data
// both before and after a scan, and that the scan did not find, is out in
// swap (or was punched and written again in between, which a paused guest
// does not do). Such a capture is refused, naming the pages and the way out
// (keep the guest's memory resident); guest_memfd and HugeTLB pages are
// never swapped.
#ifndef KHOD_CAPTURE_SWAPPED_PAGES_H_
#define KHOD_CAPTURE_SWAPPED_PAGES_H_

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

// The pages in both `before` and `after` (ordered, disjoint) that no extent
// of `seen` (ordered by first_index) covers, in order.
std::vector<PageSpan> DataPagesNotSeen(const std::vector<PageSpan>& before,
                                       const std::vector<PageSpan>& after, const FolioList& seen);

// OK when `unseen` is empty; else FailedPrecondition naming `what`, how many
// pages, the first ranges and the way out.
Status RefuseSwappedOut(const std::string& what, const std::vector<PageSpan>& unseen);

}  // namespace khod

#endif  // KHOD_CAPTURE_SWAPPED_PAGES_H_
