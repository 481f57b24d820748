// Whether a file's pages are exactly its baseline's (the last capture, or at
// Verify the frozen one), read without populating anything: every page the
// baseline has is mapped at the baseline's PFN through a PTE that gives
// continuity (flag_reuse.h rules 1-3), no page the baseline lacks exists, and
// HardwareCorrupted has not changed (rule 4). Then a capture would only rebuild
// the baseline's extents. Nothing is populated, so a full scan after a "no"
// finds every PTE as it was. O(pages): a pagemap read of the whole file.
#ifndef KHOD_CAPTURE_BASELINE_MATCH_H_
#define KHOD_CAPTURE_BASELINE_MATCH_H_

#include <cstdint>
#include <vector>

#include "capture/flag_reuse.h"
#include "capture/page_window.h"
#include "common/status.h"

namespace khod {

// Whether pages [first, first + npages) match (rules 1-3); `cursor` as for
// FlagBaseline::Matches.
Status WindowMatchesBaseline(const PageWindowReader& reader, const FlagBaseline& baseline,
                             uint64_t first, uint64_t npages, WindowBuffers* w, size_t* cursor,
                             bool* matches);

// Whether pages [0, total) match, windows of `window_pages` taken in turn by
// one thread per buffer in `buffers`, then rule 4 (the count from `hw`).
Result<bool> FileMatchesBaseline(const PageWindowReader& reader, const FlagBaseline& baseline,
                                 uint64_t total, uint64_t window_pages,
                                 const std::vector<WindowBuffers*>& buffers,
                                 const HwCorruptedCount& hw);

}  // namespace khod

#endif  // KHOD_CAPTURE_BASELINE_MATCH_H_
