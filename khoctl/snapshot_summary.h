// Figures derived from a snapshot for display (inspect text and JSON, synth's
// one-line report): folio counts by order, populated and private pages, and
// readable names for the kernel's numeric flag words.
#ifndef KHOD_KHOCTL_SNAPSHOT_SUMMARY_H_
#define KHOD_KHOCTL_SNAPSHOT_SUMMARY_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "state/snapshot.h"

namespace khod {

struct GmemSummary {
  uint64_t populated_pages = 0;                 // pages covered by folio extents
  std::map<uint8_t, uint64_t> folios_by_order;  // order -> folio count
  uint64_t folios = 0;
  uint64_t extents_pfn_unknown = 0;
  uint64_t hwpoison_pages = 0;
  uint64_t private_pages = 0;  // pages with KVM_MEMORY_ATTRIBUTE_PRIVATE
  uint64_t restructures_in_progress = 0;
};

GmemSummary SummarizeGmem(const GuestMemfd& g);

// Folios over every guest_memfd of the snapshot.
uint64_t TotalFolios(const Snapshot& snap);

// "MMAP|INIT_SHARED" (GUEST_MEMFD_FLAG_*); unknown bits as hex.
std::string GmemFlagNames(uint64_t flags);
// "GUEST_MEMFD|READONLY" (KVM_MEM_*).
std::string MemslotFlagNames(uint32_t flags);
// "uptodate|dirty|hwpoison" (FolioFlag).
std::string FolioFlagNames(uint8_t flags);
// "private" for KVM_MEMORY_ATTRIBUTE_PRIVATE, else the word in hex.
std::string AttributeName(uint64_t value);
// Folio size of an order with 4 KiB pages: 0 -> "4K", 9 -> "2M", 18 -> "1G".
std::string OrderSizeName(uint8_t order, uint32_t page_size);
// "2026-01-01T00:00:00.000000000Z".
std::string FormatUtcNanos(uint64_t ns);

}  // namespace khod

#endif  // KHOD_KHOCTL_SNAPSHOT_SUMMARY_H_
