#include "capture/page_window.h"

#include <unistd.h>

#include <algorithm>

#include "capture/flag_reuse.h"
#include "common/status_macros.h"
#include "kernel/residency.h"
#include "state/snapshot.h"

namespace khod {

void WindowBuffers::Size(uint64_t npages) {
  if (npages <= cap) return;
  const uint64_t words = 2 * npages + (2 * npages + 7) / 8;
  const uint64_t huge = npages >= kWindowPages / 4 ? kHugePageBytes / sizeof(uint64_t) : 0;
  block.assign(static_cast<size_t>(std::max(words, huge)), 0);
  cap = npages;
  pagemap = block.data();
  held = pagemap + npages;
  mincore = reinterpret_cast<uint8_t*>(held + npages);
  origin = mincore + npages;
}

// A guest_memfd page is tried whatever its INIT_SHARED: only pages mincore
// or a pagemap entry showed initialized are ever populated, and a private
// one fails with EFAULT, allocating nothing (gmem-6.18-facts.md).
bool PageWindowReader::MayTouch(uint64_t index) const {
  return declared_->empty() || !(declared_->Get(index) & kAttrPrivate);
}

Status PageWindowReader::ReadPtes(uint64_t first, uint64_t npages, WindowBuffers* w) const {
  const size_t page = static_cast<size_t>(getpagesize());
  w->Size(npages);
  uint64_t* pm = w->pagemap;
  uint8_t* origin = w->origin;
  // A mapping nothing has populated yet has no PTE: its pagemap is all
  // zeroes, and reading it is skipped (the first capture after a reexec).
  // Were a PTE missed, the page would only be populated again.
  if (*own_populated_)
    KHOD_RETURN_IF_ERROR(frames_->ReadPagemap(base_ + first * page, npages, pm));
  else
    std::fill(pm, pm + npages, 0);
  // A page declared private is never read, whatever maps it: a memfd's
  // mapping maps the page cache pages around a fault (fault-around), and
  // populating a shared page next to private ones maps them too.
  if (!declared_->empty())
    declared_->ForEach(first, npages, [&](const AttributeRange& r) {
      if (r.value & kAttrPrivate)
        std::fill(pm + (r.first - first), pm + (r.first - first) + r.count, 0);
    });
  for (uint64_t i = 0; i < npages; ++i)
    origin[i] = PagemapPresent(pm[i]) ? kPteOwnBeforePopulate : kPteNone;
  if (held_) {
    // What the holder maps is the file's page now: take its entries for the
    // pages not mapped here (a private page is mapped by nobody).
    const uint64_t* hm = w->held;
    KHOD_RETURN_IF_ERROR(held_->Read(first, npages, w->held));
    for (uint64_t i = 0; i < npages; ++i)
      if (!PagemapPresent(pm[i]) && PagemapPresent(hm[i]) && MayTouch(first + i)) {
        pm[i] = hm[i];
        origin[i] = kPteHolder;
      }
  }
  return Status::Ok();
}

Status PageWindowReader::ReadResidency(uint64_t first, uint64_t npages, WindowBuffers* w) const {
  const size_t page = static_cast<size_t>(getpagesize());
  uint8_t* base = base_ + first * page;
  const uint64_t* pm = w->pagemap;
  uint8_t* mc = w->mincore;
  for (uint64_t i = 0; i < npages;) {
    if (PagemapPresent(pm[i])) {
      mc[i++] = 1;
      continue;
    }
    uint64_t j = i + 1;
    while (j < npages && !PagemapPresent(pm[j])) ++j;
    KHOD_RETURN_IF_ERROR(Mincore(base + i * page, j - i, mc + i));
    i = j;
  }
  return Status::Ok();
}

Status PageWindowReader::Populate(uint64_t first, uint64_t npages, WindowBuffers* w) const {
  const size_t page = static_cast<size_t>(getpagesize());
  uint8_t* base = base_ + first * page;
  KHOD_RETURN_IF_ERROR(ReadPtes(first, npages, w));
  KHOD_RETURN_IF_ERROR(ReadResidency(first, npages, w));
  const uint8_t* mc = w->mincore;
  uint64_t* pm = w->pagemap;
  auto resident = [&](uint64_t i) { return (mc[i] & 1) != 0; };
  auto present = [&](uint64_t i) { return PagemapPresent(pm[i]); };
  // Map the existing, shared pages this process does not map yet, run by run.
  for (uint64_t i = 0; i < npages;) {
    if (!resident(i) || present(i) || !MayTouch(first + i)) {
      ++i;
      continue;
    }
    uint64_t j = i + 1;
    while (j < npages && resident(j) && !present(j) && MayTouch(first + j)) ++j;
    w->populated += j - i;
    *own_populated_ = true;  // before: a failed populate may still have mapped some
    Status s = PopulateRead(base + i * page, (j - i) * page);
    // EFAULT: a page went away (a memfd's guarded hole) or is private after
    // all; its PFN stays unknown and its residency comes from mincore. A
    // shared guest_memfd page punched since the mincore does not fail: the
    // populate allocates a zeroed page there (no guard exists for a
    // guest_memfd mapping; docs/DESIGN.md says why that is harmless).
    if (!s.ok() && s.code() != Status::Code::kFailedPrecondition) return s;
    KHOD_RETURN_IF_ERROR(frames_->ReadPagemap(base + i * page, j - i, pm + i));
    i = j;
  }
  return Status::Ok();
}

}  // namespace khod
