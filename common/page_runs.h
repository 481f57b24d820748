// Runs of pages in which two byte strings differ: what has to be written
// over a copy of the first to make it hold the second, a page at a time.
//
// One home for the comparison behind every "written whole outside the
// blackout, then patched inside it" copy of Freeze's blob (the draft in the
// state dir, common/patched_file.h; the handover memfd, handover/blob_memfd.h):
// compared once, the runs written to each.
#ifndef KHOD_COMMON_PAGE_RUNS_H_
#define KHOD_COMMON_PAGE_RUNS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace khod {

// [begin, end) in bytes of the new contents: begin on a page boundary, end on
// one or at the new contents' end.
struct PageRun {
  size_t begin = 0;
  size_t end = 0;
  bool operator==(const PageRun& o) const { return begin == o.begin && end == o.end; }
};

// [begin, end) in bytes, anywhere.
struct ByteRange {
  size_t begin = 0;
  size_t end = 0;
};

struct PageRuns {
  std::vector<PageRun> runs;  // ordered, disjoint, not adjacent
  // Pages the runs cover (a short last page counts as one).
  uint64_t pages(size_t page_bytes) const;
};

// The pages of `after` whose bytes differ from `before`'s at the same offset,
// in maximal runs. A page that `before` ends inside differs unless both end
// there; every page past `before`'s end differs. `page_bytes` > 0.
PageRuns DifferingPageRuns(std::string_view before, std::string_view after, size_t page_bytes);

// The pages of contents `size` bytes long that hold any byte of `ranges`
// (clipped to `size`), in maximal runs: for a writer that knows which bytes
// it changed in place, and so need not compare.
PageRuns PagesHolding(std::vector<ByteRange> ranges, size_t size, size_t page_bytes);

// Every page of `after`: what is written when nothing is known of what a
// copy holds.
PageRuns AllPages(std::string_view after);

// Writes each run's bytes of `data` at its offset in the file open as `fd`
// (nothing else: the caller truncates or grows it). IoError naming `what`.
Status WritePageRuns(int fd, std::string_view data, const PageRuns& runs, const std::string& what);

}  // namespace khod

#endif  // KHOD_COMMON_PAGE_RUNS_H_
