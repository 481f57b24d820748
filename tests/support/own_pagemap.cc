#include "tests/support/own_pagemap.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

namespace khod {

std::vector<uint64_t> OwnPagemap(int fd, uint64_t pages, const std::vector<bool>* exists) {
  constexpr uint64_t kPage = 4096;
  std::vector<uint64_t> entries(pages, 0);
  void* m = ::mmap(nullptr, pages * kPage, PROT_READ, MAP_SHARED, fd, 0);
  if (m == MAP_FAILED) return entries;
  std::vector<uint8_t> vec(pages);
  ::mincore(m, pages * kPage, vec.data());
  for (uint64_t p = 0; p < pages; ++p)
    if (exists ? (*exists)[p] : (vec[p] & 1))
      (void)*static_cast<volatile uint8_t*>(static_cast<uint8_t*>(m) + p * kPage);
  int pm = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (pm >= 0) {
    (void)!::pread(pm, entries.data(), pages * 8,
                   static_cast<off_t>(reinterpret_cast<uintptr_t>(m) / kPage * 8));
    ::close(pm);
  }
  ::munmap(m, pages * kPage);
  return entries;
}

}  // namespace khod
