// BuddyScanner: the folio list of a buddy-backed file (shmem memfd, guest_memfd)
// read through khod's mapping, shared by the capture threads in three phases,
// each cut by what it costs:
//  1. windows of pages taken in turn until none is left (a window's cost grows
//     with its PFN runs, and fragmentation differs a lot within a file): each
//     thread populates its window (PageWindowReader), cuts it into PFN runs and
//     cuts those where the baseline's folio flags stand (flag_reuse.h);
//  2. /proc/kpageflags read for the runs whose flags are not carried: all
//     threads' runs walked in PFN order, coalesced across small gaps into
//     reads, and the reads cut into shares of equal PFN count;
//  3. the extents, built in file order by shares of equal run count, then
//     joined as one scan would have built them.
// With a baseline the windows are first only read and compared, never
// populated (MatchBaseline): when every page is mapped where the baseline
// had it, with flags it may carry, the capture is the baseline's extents.
// Buffers are kept between captures, on huge pages (first-touch faults on a
// VM are slow: common/huge_page_allocator.h): the run and flag lists by the
// scanner, the window buffers by the process (capture/window_buffers_pool.h).
#ifndef KHOD_CAPTURE_BUDDY_SCAN_H_
#define KHOD_CAPTURE_BUDDY_SCAN_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "capture/flag_reuse.h"
#include "capture/folio_extent_builder.h"
#include "capture/page_window.h"
#include "common/huge_page_allocator.h"
#include "common/status.h"
#include "kernel/pagemap_scan.h"

namespace khod {

// What a scan did besides its extents.
struct BuddyScanCounts {
  uint64_t flags_read = 0;     // pages whose folio flags were read from kpageflags
  uint64_t flags_carried = 0;  // pages whose folio flags came from the baseline
  bool matched_baseline = false;
  bool changes_only = false;     // ScanSpans: only the changed pages were scanned
  uint64_t pages_rescanned = 0;  // ScanSpans: the pages of its windows
};

class BuddyScanner {
 public:
  BuddyScanner();
  ~BuddyScanner();

  // Pages a window holds (kWindowPages; smaller in tests, to give a small
  // file many windows). Fixed before the first scan.
  void set_window_pages(uint64_t n) { window_pages_ = n; }
  uint64_t window_pages() const { return window_pages_; }
  // The threads a file of `total` pages is scanned by: `max_threads`, but
  // no more than it has windows.
  int ThreadsFor(uint64_t total, int max_threads) const;

  // The folio list of pages [0, total) into *out (reset first), compared
  // with `baseline` (its rule 4 count from `hw`).
  // `expected_extents`: about how many the file has (room reserved once).
  // `try_match`: whether the baseline's extents may be taken when every page
  // matches (only where every page of the file can be seen mapped).
  Status Scan(const PageWindowReader& reader, const FlagBaseline& baseline, uint64_t total,
              size_t expected_extents, bool try_match, const HwCorruptedCount& hw, int threads,
              const std::function<void(uint64_t pages_done)>& progress, FolioExtentBuilder* out,
              BuddyScanCounts* counts);

  // Memory that cannot move (capture/change_scan.h): pages `spans` (sorted,
  // from PagesToRescan) scanned as Scan does, every other page of [0, total)
  // taken from the baseline, whose rule 4 the caller has checked. The result
  // is what Scan would build. No span: the baseline's extents.
  Status ScanSpans(const PageWindowReader& reader, const FlagBaseline& baseline, uint64_t total,
                   const std::vector<PageSpan>& spans, const HwCorruptedCount& hw, int threads,
                   const std::function<void(uint64_t pages_done)>& progress,
                   FolioExtentBuilder* out, BuddyScanCounts* counts);
  // Room for the list the next ScanSpans builds from a baseline of
  // `baseline_extents` extents, faulted in now: a ScanSpans that finds a
  // change builds a whole list, and at Freeze its first touch of fresh
  // memory was most of the capture (docs/PERFORMANCE.md). Taken by the next
  // ScanSpans that finds a change and fits in it; kept until then.
  void PrefaultSpansRoom(size_t baseline_extents);
  // Lets go of what a scan of every page keeps for the next one: each
  // thread's run, flag and extent lists and the flag reads' plan, sized for
  // the whole file (on a fragmented file several times its extent list).
  // For a file whose next capture scans only what changed (ScanSpans), which
  // fills them for the changed pages alone; PrefaultSpansRoom's room stays.
  void ReleaseWholeScanLists();
  // Bytes of list capacity kept between scans: the lists above.
  size_t ListBytes() const;

  // Warm-up: the guarded populates a scan does, over `threads` equal shares
  // of the file (populating costs the same per page wherever the PFN runs are).
  Status Populate(const PageWindowReader& reader, uint64_t total, int threads);
  // Sizes and touches the buffers a scan of a whole `total`-page file fills,
  // keeping their capacity for the captures to come: each thread's window
  // buffers, and its run and flag lists sized for its share of the file
  // (capped). Returns the bytes of list capacity made ready.
  size_t PrefaultBuffers(uint64_t total, int threads);

  // Pages the scans mapped themselves since the last ResetPopulated.
  uint64_t populated() const;
  void ResetPopulated();

  struct Part;

 private:
  struct Plan;
  class Lease;
  void EnsureParts(int threads);
  Status ScanWindows(const PageWindowReader& reader, const FlagBaseline& baseline, Part* part);
  Status ScanWindow(const PageWindowReader& reader, const FlagBaseline& baseline, uint64_t first,
                    uint64_t npages, Part* part, size_t window);
  void CheckCarriedFlags(const FlagBaseline& baseline, const HwCorruptedCount& hw, int threads,
                         BuddyScanCounts* counts);
  void PlanFlagReads(int threads);
  Status ScanPlannedWindows(const PageWindowReader& reader, const FlagBaseline& baseline,
                            const HwCorruptedCount& hw, int threads, BuddyScanCounts* counts);
  // The baseline's extents as the capture's: nothing changed since it.
  static void TakeBaseline(const FolioList& folios, uint64_t total,
                           const std::function<void(uint64_t)>& progress, FolioExtentBuilder* out,
                           BuddyScanCounts* counts);
  Status ReadFlags(const PageFrameReader& frames, size_t first, size_t last) const;
  void BuildExtents(size_t first, size_t last, FolioExtentBuilder* b) const;

  uint64_t window_pages_;
  std::function<void(uint64_t pages_done)> progress_;  // the running Scan's
  std::vector<std::unique_ptr<Part>> parts_;
  std::unique_ptr<Plan> plan_;
  FolioList::Extents spans_room_;       // PrefaultSpansRoom's, empty with its capacity
  std::atomic<uint64_t> populated_{0};  // pages the leases' windows populated since ResetPopulated
};

}  // namespace khod

#endif  // KHOD_CAPTURE_BUDDY_SCAN_H_
