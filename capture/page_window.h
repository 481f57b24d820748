// PageWindowReader: what a capture learns of a window of file pages through
// the mapping khod holds (and, after a reexec, the mapping holder's), without
// creating a page: the PTEs as they stand (pagemap), which pages exist
// (mincore), and the existing shared pages not mapped yet, populated with
// MADV_POPULATE_READ, which never raises SIGBUS (a private page fails with
// EFAULT and allocates nothing). Pages the VMM declared private are never
// populated, read or hashed. Safe to use from several threads at once, each
// with its own WindowBuffers.
#ifndef KHOD_CAPTURE_PAGE_WINDOW_H_
#define KHOD_CAPTURE_PAGE_WINDOW_H_

#include <atomic>
#include <cstdint>

#include "common/huge_page_allocator.h"
#include "common/status.h"
#include "kernel/held_mapping.h"
#include "kernel/pagemap.h"
#include "state/attribute_map.h"

namespace khod {

// Pages handled per pass (512 KiB of pagemap entries); a multiple of the 2 MiB
// HugeTLB folio, and 1 GiB folios get a pass each.
constexpr uint64_t kWindowPages = 64 * 1024;

// One thread's buffers for a window: its pagemap entries, the holder's,
// mincore bytes and the PteOrigin of each page's PFN (flag_reuse.h rule 1),
// carved from one block of 18 bytes a page (one huge page for a whole
// window), kept between captures: first-touch faults are slow on VMs.
struct WindowBuffers {
  HugePageVector<uint64_t> block;
  uint64_t cap = 0;  // pages the block is laid out for
  uint64_t* pagemap = nullptr;
  uint64_t* held = nullptr;
  uint8_t* mincore = nullptr;
  uint8_t* origin = nullptr;
  uint64_t populated = 0;  // pages this thread mapped itself

  // Lays the buffers out for windows of up to `npages` pages (written through
  // when the block is new: faulted in here).
  void Size(uint64_t npages);
};

class PageWindowReader {
 public:
  // `base`: khod's mapping of the whole file; `held`: the holder's, or null;
  // `declared`: the VMM's per-page attributes; `own_populated`: whether
  // anything populated khod's mapping since it was made (else it has no PTE).
  PageWindowReader(uint8_t* base, const PageFrameReader* frames, const HeldMapping* held,
                   const AttributeMap* declared, std::atomic<bool>* own_populated)
      : base_(base),
        frames_(frames),
        held_(held),
        declared_(declared),
        own_populated_(own_populated) {}

  // Whether page `index` may be populated or read: not declared private.
  bool MayTouch(uint64_t index) const;
  const PageFrameReader& frames() const { return *frames_; }
  uint8_t* base() const { return base_; }

  // Fills w->pagemap and w->origin for pages [first, first + npages) as the
  // PTEs stand, populating nothing: this process's own entries, and the
  // holder's for the pages not mapped here (w->held keeps the holder's).
  Status ReadPtes(uint64_t first, uint64_t npages, WindowBuffers* w) const;
  // Fills w->mincore after ReadPtes. A mapped page exists: residency is asked
  // only for the others (mincore of an unmapped range looks up the page cache
  // page by page).
  Status ReadResidency(uint64_t first, uint64_t npages, WindowBuffers* w) const;
  // ReadPtes and ReadResidency, having mapped the existing, shared pages this
  // process did not map yet.
  Status Populate(uint64_t first, uint64_t npages, WindowBuffers* w) const;

 private:
  uint8_t* base_;
  const PageFrameReader* frames_;
  const HeldMapping* held_;
  const AttributeMap* declared_;
  std::atomic<bool>* own_populated_;
};

}  // namespace khod

#endif  // KHOD_CAPTURE_PAGE_WINDOW_H_
