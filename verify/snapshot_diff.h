// Compares two Snapshots (or two GuestMemfds) and lists each difference: which
// guest_memfd (token + name), which field or page range, expected, found.
// Folio lists, attributes and content hashes are compared as page ranges, so
// a punched hole or a split run is one line ("folios pages 256-511"), not one
// per page. Used by `khoctl verify` before kexec and by restore after it.
//
// Only what both sides observed is compared (state/snapshot.h PageVisibility):
// a page is compared in full where both captures saw it kFull; where either saw
// it kInitializedOnly, only whether it is initialized is compared (a punch there
// is a difference) and the page counts as not verified; where either saw it
// kNone, nothing is compared and the page is not verified. A content hash is
// compared only with one over the very same pages on the other side
// (MatchHashes); pages hashed over ranges cut otherwise are not verified. Where both saw a
// page kFull and hold it resident but either did not see its PFN (pagemap
// shows PFNs only with CAP_SYS_ADMIN; folio flags are read by PFN), only that
// it is resident is compared: its PFN and folio flags are not verified, never
// equal nor different. A policy, or a flag bit, that one side could not read
// is not verified either, nor is what the VMM declared (memslots, a kernel
// file's attributes: compared as declarations, never read from KVM). The
// result says so in counts and per guest_memfd, never as "equal".
#ifndef KHOD_VERIFY_SNAPSHOT_DIFF_H_
#define KHOD_VERIFY_SNAPSHOT_DIFF_H_

#include <cstdint>
#include <string>
#include <vector>

#include "state/snapshot.h"

namespace khod {

struct Difference {
  bool in_gmem = false;  // false: header or VM difference
  uint64_t gmem_token = 0;
  std::string gmem_name;
  std::string field;  // "size", "policy", "folios pages 256-511", "vm 0x1 slot 0 npages"
  std::string expected;
  std::string found;
  // "gmem 0x2a 'ram0': folios pages 256-511: expected hole, found resident pfn 0x1200 order 0"
  std::string ToString() const;
  // The same without the values: "gmem 0x2a 'ram0': folios pages 256-511".
  std::string Where() const;
};

// What kind of thing a part not verified is. A fleet's policy names the kinds
// it accepts at exit 3 (docs/OPERATIONS.md "Fleet rollout"), so a kind keeps
// its meaning once released; a new reason is a new kind. The reply carries
// them by name (proto/khod.proto UnverifiedKind, the same order).
enum class UnverifiedKind {
  kUnspecified,               // from a khod that named no kind
  kPagesPrivate,              // initialization alone compared: guest_memfd MMAP without
                              // INIT_SHARED, or pages the VMM declared private
  kPagesInvisible,            // guest_memfd without MMAP: no per-page state visible to the host
  kPfnsUnseen,                // resident pages whose PFN (and folio flags) a capture did not see
  kCreationFlags,             // creation flag bits the kernel does not show
  kNumaPolicyUnread,          // a NUMA policy a capture could not read
  kNumaPolicyHandedToVmm,     // VMM mappings' NUMA policies, the VMM's to apply after a restore
  kDeclaredMemslots,          // the VMM's VM and memslots: its declaration, never read from KVM
  kDeclaredAttributes,        // a kernel file's shared/private attributes: the VMM's declaration
  kRebuiltMemory,             // a kernel file Restore rebuilt as new memory, its pages unseen
  kNumaPolicyNotHandedOn,     // VMM mapping policies past what Restore hands on: not restored
  kNumaHomeNodeUnseen,        // a NUMA policy's home node a capture could not see
  kContentsCutOtherwise,      // contents both captures hashed over ranges cut otherwise
  kNumaPlacementByAllocator,  // where a guest_memfd with no shared policy puts new pages
  kContentsNotHashed,         // contents of initialized pages one capture or neither hashed
};
constexpr int kUnverifiedKinds = 15;

// What of one guest_memfd was not verified: `pages` pages (of those not found
// different) and, in `parts`, what each unverified part is and why
// ("65536 pages: no per-page state visible (created without MMAP)", "policy: ...").
struct UnverifiedGmem {
  uint64_t token = 0;
  std::string name;
  uint64_t pages = 0;
  std::vector<std::string> parts;
  std::vector<UnverifiedKind> kinds;  // kinds[i] is what parts[i] is
  void AddPart(UnverifiedKind kind, std::string text) {
    kinds.push_back(kind);
    parts.push_back(std::move(text));
  }
  // "gmem 0x2 'gmem_private': 65536 pages: no per-page state visible (...)"
  std::string ToString() const;
};

// Page counts over every guest_memfd present on both sides: equal + different
// + unverified = their pages. A gmem present on one side only counts its pages
// as different.
struct DiffCounts {
  uint64_t pages_equal = 0;      // observed in full on both sides and equal
  uint64_t pages_different = 0;  // in a page range listed as a difference
  // Not observed in full by both, or resident on both with a PFN either did
  // not see; and not different.
  uint64_t pages_unverified = 0;
};

// The field of the entry that ends a list cut at its limit (CutDifferences):
// "(list cut): expected 1000 shown, found 3000 differences in all". It is no
// difference itself.
constexpr char kListCut[] = "(list cut)";

struct SnapshotDiff {
  std::vector<Difference> differences;
  // Differences found past the limit of the list (CutDifferences), not
  // listed: the list then ends with one kListCut entry.
  uint64_t differences_unlisted = 0;
  DiffCounts counts;
  std::vector<UnverifiedGmem> unverified;  // gmems with an unverified part, in snapshot order
  bool equal() const { return differences.empty(); }
  // Every difference found, listed or not (the kListCut entry is none).
  uint64_t difference_count() const {
    return differences.size() - (differences_unlisted ? 1 : 0) + differences_unlisted;
  }
  // No difference and nothing left unverified: the only case that may say "equal".
  bool fully_verified() const { return differences.empty() && unverified.empty(); }
};

struct DiffOptions {
  // Header fields (time, boot id, kernel) differ between any two captures,
  // and the format version says how a blob was written (a snapshot an older
  // khod froze is verified against a current capture): only page_size is
  // compared unless this is set.
  bool compare_header = false;
  // st_ino is per boot: off after a kexec.
  bool compare_inodes = true;
  bool compare_pfns = true;
  bool compare_folio_flags = true;
  // The policies of the VMM's mappings (PolicySource::kVmmMappings) are
  // compared, unless cleared: after a restore they are the VMM's to apply to
  // its new mappings (restore hands them over), so khod cannot have seen them
  // and lists them as not verified instead.
  bool compare_vmm_policies = true;
  // PFNs and folio flags in the text of a difference: cleared for a caller
  // the kernel would not show them to (pagemap and kpageflags need
  // CAP_SYS_ADMIN); what is compared is the same either way.
  bool show_pfns = true;
  // Pages per visibility range; DiffSnapshots takes it from the header.
  uint32_t page_size = 4096;
  // Stops listing after this many (CutDifferences; difference_count() and the
  // summary still count every one).
  size_t max_differences = 1000;
};

// How well both sides observed each page of [0, pages): the worse of the two
// (kFull < kInitializedOnly < kNone). Ordered, disjoint, covering [0, pages).
// Past a side's own list (a file that grew), its folio list speaks: kFull.
// What DiffGmems compares by, and what CountCompared (verify/verify_counts.h)
// counts by.
std::vector<VisibilityRange> CombinedVisibility(const GuestMemfd& expected, const GuestMemfd& found,
                                                uint64_t pages);

// What a verify means by contents compared, the one definition DiffGmems and
// CountCompared (verify/verify_counts.h) share: a hash of `expected` is
// compared with the hash of `found` over the very same pages
// [first_index, first_index + count), where there is one. A hash is over its
// whole range, so one with no such twin is compared with nothing, whatever
// the other side hashed over its pages (captures hash per extent: one that
// saw no PFN joins pages across physical breaks, a page whose flags changed
// splits its extent, and FORMAT.md asks for no maximal extents): its pages'
// contents are not verified, never equal nor different. Calls `pair(e, f)`
// for each twin pair and `alone(h)` for each hash of either side without one,
// in one merge walk of the two lists (ordered by first_index, disjoint:
// state/snapshot.h; lists out of order only leave hashes alone).
template <typename Pair, typename Alone>
void MatchHashes(const std::vector<ContentHash>& expected, const std::vector<ContentHash>& found,
                 Pair&& pair, Alone&& alone) {
  size_t i = 0, j = 0;
  while (i < expected.size() || j < found.size()) {
    if (j == found.size()) {
      alone(expected[i++]);
    } else if (i == expected.size()) {
      alone(found[j++]);
    } else {
      const ContentHash &e = expected[i], &f = found[j];
      if (e.first_index == f.first_index && e.count == f.count) {
        pair(e, f);
        ++i, ++j;
      } else if (e.first_index < f.first_index ||
                 (e.first_index == f.first_index && e.count < f.count)) {
        alone(expected[i++]);
      } else {
        alone(found[j++]);
      }
    }
  }
}

SnapshotDiff DiffSnapshots(const Snapshot& expected, const Snapshot& found,
                           const DiffOptions& opts = DiffOptions());
// Keeps the first `max` differences of `d` (not cut yet) and, when there were
// more, ends the list with a kListCut entry and counts the others in
// differences_unlisted. DiffSnapshots does it with opts.max_differences; a
// caller that adds differences after it diffs with no limit and cuts last.
void CutDifferences(SnapshotDiff* d, size_t max);
// Adds to `out` (differences, counts, unverified) what differs between two gmems.
void DiffGmems(const GuestMemfd& expected, const GuestMemfd& found, const DiffOptions& opts,
               SnapshotDiff* out);

}  // namespace khod

#endif  // KHOD_VERIFY_SNAPSHOT_DIFF_H_
