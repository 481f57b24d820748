// FlagReuse: when a capture may take a page's folio flags (uptodate, dirty,
// hwpoison) from an earlier capture of the same file instead of reading
// /proc/kpageflags, the dearest step of a capture per page (done once at
// Freeze and again at Verify).
//
// A page's flags are taken from the baseline only when all of these hold:
//  1. Continuity: the PTE this capture read the page's PFN through was
//     present before this capture populated anything, in a mapping that only
//     khod's own populate ever faults in (khod's mapping, or the reexec
//     holder's, which never runs). So that PTE has been present without a gap
//     since the baseline read the page.
//  2. The PFN is the baseline's.
//  3. The baseline flags were uptodate and dirty, and not hwpoison. A mapped
//     folio keeps PG_uptodate. PG_dirty is cleared only by writeback (for
//     shmem that is swap-out) or by truncation, and both unmap the folio
//     first, which breaks 1. A clean folio can be dirtied by a write through
//     any mapping, so it is read again.
//  4. HardwareCorrupted (kernel/meminfo.h) has not changed since the
//     baseline. memory_failure() sets PG_hwpoison before it unmaps, and the
//     unmap may fail. A capture reads the count before any page (the
//     baseline keeps it) and again after every page; both must equal the
//     baseline's.
//     In a capture round (capture/snapshot_assembly.h: every file of Freeze
//     or Verify) the round reads the count once before any file's pages and
//     once after all of them, and each file takes the round's "before" count
//     for both of its own reads (HwCorruptedCount). That is exact: the
//     round's interval contains each file's, so a count that did not move
//     across the round did not move across any file. Where it moved (or
//     cannot be read after), the round captures every file again, each
//     reading the count for itself.
// Anything else is read from kpageflags: a new PFN, a page populated by this
// capture, a clean page, and every HugeTLB page (those are cheap: one read
// per huge page).
#ifndef KHOD_CAPTURE_FLAG_REUSE_H_
#define KHOD_CAPTURE_FLAG_REUSE_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "state/snapshot.h"

namespace khod {

// Which PTEs count for rule 1, per page, as PopulateWindow found them.
enum PteOrigin : uint8_t {
  kPteNone = 0,
  kPteOwnBeforePopulate = 1,  // khod's own mapping, present before this capture populated
  kPteHolder = 2,             // the reexec mapping holder's
};

class FlagBaseline {
 public:
  // No baseline: every page is read.
  FlagBaseline() = default;
  // `folios` (kept by the caller, in file order) as read when HardwareCorrupted
  // was `hw_corrupted_kb`; `origins` is a mask of the PteOrigin values that
  // give continuity since then. Extents out of file order (or a list that is
  // not well formed, FolioListFacts) disable reuse.
  FlagBaseline(const FolioList* folios, uint64_t hw_corrupted_kb, uint8_t origins);

  bool usable() const { return folios_ != nullptr; }
  const FolioList* folios() const { return folios_; }
  uint64_t hw_corrupted_kb() const { return hw_kb_; }
  uint8_t origins() const { return origins_; }

  // Whether pages [index, index + len) are exactly the baseline's, every
  // flag carried: each page the baseline has is mapped (pfns[k], the PFN of
  // page index + k, not kPfnUnknown) at the baseline's PFN through an origin
  // of the mask, and its baseline flags stay while mapped (rules 1-3); no
  // page the baseline lacks is mapped. A capture of such pages would only
  // rebuild the baseline's extents. Rule 4 is the caller's, once a capture.
  // `cursor` as for Split.
  bool Matches(uint64_t index, uint64_t len, const uint64_t* pfns, const uint8_t* origin,
               size_t* cursor) const;

  // Cuts pages [index, index + len), mapped at PFNs pfn.. (contiguous), into
  // pieces in order: piece(offset, count, true, flags) where the baseline's
  // flags stand, piece(offset, count, false, 0) where kpageflags must be read.
  // origin[k] is page index + k's PteOrigin. `cursor` (optional, start at 0)
  // remembers where the last call ended: runs given in file order then find
  // their extent by a few steps forward, not a binary search each (whose
  // cache misses, once per run, add up over a file's many extents).
  void Split(
      uint64_t index, uint64_t pfn, uint64_t len, const uint8_t* origin,
      const std::function<void(uint64_t offset, uint64_t count, bool known, uint8_t flags)>& piece,
      size_t* cursor = nullptr) const;

 private:
  // The first extent ending after `index`: a few steps on from *cursor when
  // every extent before it ends by `index`, else a binary search.
  size_t FirstEndingAfter(uint64_t index, const size_t* cursor) const;

  const FolioList* folios_ = nullptr;
  uint64_t hw_kb_ = 0;
  uint8_t origins_ = 0;
};

// Where rule 4's HardwareCorrupted count comes from: read from a meminfo
// file each time (a capture alone), or the count its capture round read
// before any file's pages, taken instead of every read (the round reads
// again after all its files and captures them again if it moved).
class HwCorruptedCount {
 public:
  static HwCorruptedCount ReadFrom(std::string meminfo_path);
  static HwCorruptedCount OfRound(uint64_t kb);

  // The count now (ReadFrom: kernel/meminfo.h's read), or the round's.
  Result<uint64_t> Get() const;

 private:
  std::string meminfo_path_;
  std::optional<uint64_t> round_kb_;
};

// The folio flags a snapshot keeps (uptodate, dirty, hwpoison) from a
// /proc/kpageflags entry.
uint8_t FolioFlagsFromKpf(uint64_t kpf);

// Rule 3 alone: flags a mapped folio cannot lose without being unmapped.
bool FlagsStayWhileMapped(uint8_t folio_flags);

}  // namespace khod

#endif  // KHOD_CAPTURE_FLAG_REUSE_H_
