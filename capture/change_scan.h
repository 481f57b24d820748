// Which pages of a guest_memfd may differ from the baseline capture, found in
// O(changes) instead of reading every page's PTE. The rule it rests on
// (docs/DESIGN.md "Freeze and Verify in O(changes)"):
//  - guest_memfd folios cannot move: the kernel marks the mapping unmovable
//    (no compaction, no migration: its migrate_folio refuses) and its folios
//    unevictable (no reclaim, no swap). A PTE of a guest_memfd page that has
//    stayed present therefore still points at the folio it pointed at.
//  - the mapping scanned is one only khod's own capture populates (khod's,
//    or the reexec holder's, which never runs) and has been there since the
//    baseline capture read it (flag_reuse.h rule 1). A punch or truncation
//    zaps its PTEs (unmap_mapping_range), and nothing maps them again before
//    the next capture: every change to a page the baseline has shows as a
//    non-present range (PAGEMAP_SCAN, kernel/pagemap_scan.h).
//  - a page the baseline lacks that now exists (the guest or VMM used a hole)
//    has no PTE here: the baseline's holes are asked with mincore, which
//    costs O(hole pages), the one part not O(changes).
//  - what flag_reuse.h carries (rules 3 and 4) holds as in a full capture.
// So pages to rescan are: baseline pages not present now; baseline extents
// whose PFN was unknown or whose flags are read every time; holes with a
// resident or present page. Every other page is the baseline's, exactly as a
// full capture would find it. Memory that can move (shmem, HugeTLB) comes
// here only while khod pins the baseline's pages at their PFNs
// (kernel/page_pin.h: a pinned folio cannot migrate); otherwise a migrated
// page stays present at a new PFN, and it takes the full check.
#ifndef KHOD_CAPTURE_CHANGE_SCAN_H_
#define KHOD_CAPTURE_CHANGE_SCAN_H_

#include <cstdint>
#include <vector>

#include "capture/page_window.h"
#include "common/status.h"
#include "kernel/pagemap_scan.h"
#include "state/snapshot.h"

namespace khod {

// NonPresentPages (kernel/pagemap_scan.h) of [addr, addr + npages pages)
// cut into up to `threads` shares of at least `min_share` pages, each a
// multiple of 512 pages (one page table, 2 MiB, so no two threads walk the
// same one), scanned at once (capture_threads.h: the page-table walk is the
// per-GiB part of Freeze and Verify, and the paused host's cores are free).
// The same spans as one scan: a span that crosses a cut is joined.
Result<std::vector<PageSpan>> NonPresentPagesInShares(int pagemap_fd, uint64_t addr,
                                                      uint64_t npages, int threads,
                                                      uint64_t min_share = 1ull << 16);

// NonPresentPages of the pages of `spans` (sorted, in pages from `addr`)
// below `total`, one scan per span: the walk a witness (capture/pte_witness.h)
// leaves, of the pages it does not vouch for. The same spans as a scan of
// all of [0, total) gives within them.
Result<std::vector<PageSpan>> NonPresentPagesWithin(int pagemap_fd, uint64_t addr, uint64_t total,
                                                    const std::vector<PageSpan>& spans);
// How many pages of `spans` are below `total`.
uint64_t PagesWithin(uint64_t total, const std::vector<PageSpan>& spans);

// What PagesToRescan needs of a baseline's extents besides what changed:
// worked out once per list (one pass), so that each capture after it costs
// what changed, not what the baseline holds.
struct RescanBase {
  uint64_t version = 0;          // FolioList::version() of the list it was made from
  uint64_t end = 0;              // the end of its last extent
  std::vector<PageSpan> holes;   // pages in no extent, below `end`
  std::vector<PageSpan> always;  // extents read every time (PFN unknown, or
                                 // flags a mapped folio can lose: flag_reuse.h rule 3)
};
// On up to `threads` threads, each a run of at least `min_share` extents,
// their spans joined where runs meet: the same RescanBase as one pass. Only
// a well-formed list (FolioListFacts) is shared out, since a run starts
// where the extent before it ends; any other takes one pass.
RescanBase MakeRescanBase(const FolioList& baseline, int threads = 1,
                          size_t min_share = size_t{1} << 16);

// The pages of [0, total) to rescan, given the baseline (its RescanBase: the
// list in file order, order-0 folios, ending by `total`) and the non-present
// pages of the mapping whose continuity the caller vouches for, as sorted
// spans: its holes with a page present or resident now, its extents read
// every time, and its other pages not present now. O(holes + changes), plus
// mincore of the non-present hole pages. Spans closer than `join_gap` pages
// are joined (one window for a few pages costs less than two). mincore goes
// through reader.base(), khod's mapping of the file.
Result<std::vector<PageSpan>> PagesToRescan(const RescanBase& baseline, uint64_t total,
                                            const std::vector<PageSpan>& non_present,
                                            const PageWindowReader& reader, uint64_t join_gap = 64);

}  // namespace khod

#endif  // KHOD_CAPTURE_CHANGE_SCAN_H_
