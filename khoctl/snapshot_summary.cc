#include "khoctl/snapshot_summary.h"

#include <cstdio>
#include <ctime>

#include "synth/size.h"

namespace khod {

namespace {

struct FlagName {
  uint64_t bit;
  const char* name;
};

std::string NamesOf(uint64_t flags, std::initializer_list<FlagName> names) {
  std::string out;
  auto add = [&](const std::string& n) { out += (out.empty() ? "" : "|") + n; };
  for (const auto& f : names) {
    if (flags & f.bit) {
      add(f.name);
      flags &= ~f.bit;
    }
  }
  if (flags) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(flags));
    add(buf);
  }
  return out.empty() ? "none" : out;
}

}  // namespace

GmemSummary SummarizeGmem(const GuestMemfd& g) {
  GmemSummary s;
  for (const auto& e : g.folios) {
    s.populated_pages += e.pages();
    s.folios_by_order[e.order] += e.nr_folios;
    s.folios += e.nr_folios;
    if (e.first_pfn == kPfnUnknown) ++s.extents_pfn_unknown;
    if (e.flags & kFolioHwpoison) s.hwpoison_pages += e.pages();
  }
  for (const auto& r : g.attributes.Ranges())
    if (r.value & kAttrPrivate) s.private_pages += r.count;
  for (const auto& r : g.restructures) s.restructures_in_progress += r.in_progress;
  return s;
}

uint64_t TotalFolios(const Snapshot& snap) {
  uint64_t n = 0;
  for (const auto& g : snap.gmems)
    for (const auto& e : g.folios) n += e.nr_folios;
  return n;
}

std::string GmemFlagNames(uint64_t flags) {
  return NamesOf(flags, {{1, "MMAP"}, {2, "INIT_SHARED"}});
}

std::string MemslotFlagNames(uint32_t flags) {
  return NamesOf(flags, {{1, "LOG_DIRTY_PAGES"}, {2, "READONLY"}, {4, "GUEST_MEMFD"}});
}

std::string FolioFlagNames(uint8_t flags) {
  return NamesOf(
      flags, {{kFolioUptodate, "uptodate"}, {kFolioDirty, "dirty"}, {kFolioHwpoison, "hwpoison"}});
}

std::string AttributeName(uint64_t value) { return NamesOf(value, {{kAttrPrivate, "private"}}); }

std::string OrderSizeName(uint8_t order, uint32_t page_size) {
  if (order >= 40) return "order " + std::to_string(order);
  return FormatSize(uint64_t{page_size} << order);
}

std::string FormatUtcNanos(uint64_t ns) {
  const time_t secs = static_cast<time_t>(ns / 1000000000ull);
  struct tm tm;
  if (!gmtime_r(&secs, &tm)) return std::to_string(ns) + " ns";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%09lluZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<unsigned long long>(ns % 1000000000ull));
  return buf;
}

}  // namespace khod
