#include "capture/flag_reuse.h"

#include <algorithm>
#include <utility>

#include "kernel/meminfo.h"
#include "kernel/pagemap.h"

namespace khod {

HwCorruptedCount HwCorruptedCount::ReadFrom(std::string meminfo_path) {
  HwCorruptedCount c;
  c.meminfo_path_ = std::move(meminfo_path);
  return c;
}

HwCorruptedCount HwCorruptedCount::OfRound(uint64_t kb) {
  HwCorruptedCount c;
  c.round_kb_ = kb;
  return c;
}

Result<uint64_t> HwCorruptedCount::Get() const {
  if (round_kb_) return *round_kb_;
  return ReadHardwareCorruptedKb(meminfo_path_);
}

uint8_t FolioFlagsFromKpf(uint64_t kpf) {
  uint8_t f = 0;
  if (kpf & kKpfUptodate) f |= kFolioUptodate;
  if (kpf & kKpfDirty) f |= kFolioDirty;
  if (kpf & kKpfHwpoison) f |= kFolioHwpoison;
  return f;
}

bool FlagsStayWhileMapped(uint8_t f) {
  return (f & kFolioUptodate) && (f & kFolioDirty) && !(f & kFolioHwpoison);
}

FlagBaseline::FlagBaseline(const FolioList* folios, uint64_t hw_corrupted_kb, uint8_t origins)
    : hw_kb_(hw_corrupted_kb), origins_(origins) {
  // Worked out once per list (state/folio_list.h), not once per capture.
  if (folios && !folios->facts().well_formed) return;  // not in file order, or malformed
  folios_ = folios;
}

size_t FlagBaseline::FirstEndingAfter(uint64_t index, const size_t* cursor) const {
  const FolioList& x = *folios_;
  constexpr size_t kSteps = 8;
  if (cursor && *cursor <= x.size() && (*cursor == 0 || x[*cursor - 1].end_index() <= index)) {
    size_t c = *cursor;
    for (size_t step = 0; c < x.size() && x[c].end_index() <= index && step < kSteps; ++step) ++c;
    if (c == x.size() || x[c].end_index() > index) return c;
  }
  return std::upper_bound(x.begin(), x.end(), index,
                          [](uint64_t i, const FolioExtent& f) { return i < f.end_index(); }) -
         x.begin();
}

bool FlagBaseline::Matches(uint64_t index, uint64_t len, const uint64_t* pfns,
                           const uint8_t* origin, size_t* cursor) const {
  if (!folios_) return false;
  const FolioList& x = *folios_;
  size_t e = FirstEndingAfter(index, cursor);
  for (uint64_t k = 0; k < len;) {
    while (e < x.size() && x[e].end_index() <= index + k) ++e;
    if (e == x.size() || x[e].first_index > index + k) {  // a hole in the baseline: nothing mapped
      const uint64_t next = e == x.size() ? len : std::min(len, x[e].first_index - index);
      for (; k < next; ++k)
        if (pfns[k] != kPfnUnknown) return false;
      continue;
    }
    const FolioExtent& f = x[e];
    if (f.first_pfn == kPfnUnknown || !FlagsStayWhileMapped(f.flags)) return false;
    const uint64_t end = std::min(len, f.end_index() - index);
    for (; k < end; ++k)
      if (pfns[k] != f.first_pfn + (index + k - f.first_index) || !(origin[k] & origins_))
        return false;
  }
  *cursor = e;
  return true;
}

void FlagBaseline::Split(uint64_t index, uint64_t pfn, uint64_t len, const uint8_t* origin,
                         const std::function<void(uint64_t, uint64_t, bool, uint8_t)>& piece,
                         size_t* cursor) const {
  // Adjacent pieces of one kind are joined before they are handed out.
  uint64_t at = 0, count = 0;
  bool known = false;
  uint8_t flags = 0;
  auto emit = [&](uint64_t off, uint64_t n, bool k, uint8_t f) {
    if (count && at + count == off && known == k && flags == f) {
      count += n;
      return;
    }
    if (count) piece(at, count, known, flags);
    at = off;
    count = n;
    known = k;
    flags = f;
  };
  if (!folios_) {
    piece(0, len, false, 0);
    return;
  }
  const FolioList& x = *folios_;
  size_t e = FirstEndingAfter(index, cursor);
  for (uint64_t k = 0; k < len;) {
    const uint64_t i = index + k;
    while (e < x.size() && x[e].end_index() <= i) ++e;
    if (e == x.size() || x[e].first_index > i) {  // a hole in the baseline
      const uint64_t next = e == x.size() ? index + len : std::min(index + len, x[e].first_index);
      emit(k, next - i, false, 0);
      k = next - index;
      continue;
    }
    const FolioExtent& f = x[e];
    const uint64_t end = std::min(index + len, f.end_index());
    const bool same_pfn =
        f.first_pfn != kPfnUnknown && f.first_pfn + (i - f.first_index) == pfn + k;
    if (!same_pfn || !FlagsStayWhileMapped(f.flags)) {
      emit(k, end - i, false, 0);
    } else {
      for (uint64_t p = k; p < end - index;) {
        const bool ok = (origin[p] & origins_) != 0;
        uint64_t q = p + 1;
        while (q < end - index && ((origin[q] & origins_) != 0) == ok) ++q;
        emit(p, q - p, ok, ok ? f.flags : 0);
        p = q;
      }
    }
    k = end - index;
  }
  if (cursor) *cursor = e;
  if (count) piece(at, count, known, flags);
}

}  // namespace khod
