#include "common/huge_page_allocator.h"

#include <sys/mman.h>

#include <cstdint>

namespace khod {

namespace {
size_t RoundUp(size_t bytes) { return (bytes + kHugePageBytes - 1) & ~(kHugePageBytes - 1); }
}  // namespace

void* MapHugePageBlock(size_t bytes) {
  const size_t len = RoundUp(bytes);
  // One huge page more than needed, then the unaligned ends cut off: mmap
  // aligns only to 4 KiB, and THP maps only aligned 2 MiB ranges.
  void* raw = ::mmap(nullptr, len + kHugePageBytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  const uintptr_t start = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = (start + kHugePageBytes - 1) & ~(uintptr_t{kHugePageBytes} - 1);
  if (aligned > start) ::munmap(raw, aligned - start);
  const uintptr_t end = start + len + kHugePageBytes;
  if (end > aligned + len) ::munmap(reinterpret_cast<void*>(aligned + len), end - (aligned + len));
  void* p = reinterpret_cast<void*>(aligned);
  (void)::madvise(p, len, MADV_HUGEPAGE);  // advice: without THP the block still works
  return p;
}

bool AdviseHugePages(void* p, size_t bytes) {
  const uintptr_t start = reinterpret_cast<uintptr_t>(p);
  const uintptr_t lo = (start + kHugePageBytes - 1) & ~(uintptr_t{kHugePageBytes} - 1);
  const uintptr_t hi = (start + bytes) & ~(uintptr_t{kHugePageBytes} - 1);
  if (p == nullptr || hi <= lo) return false;
  return ::madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_HUGEPAGE) == 0;
}

void UnmapHugePageBlock(void* p, size_t bytes) {
  if (p) ::munmap(p, RoundUp(bytes));
}

}  // namespace khod
