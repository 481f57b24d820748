// HugePageAllocator: small blocks from operator new, large ones as their own
// 2 MiB-aligned mappings advised MADV_HUGEPAGE (which the kernel backs with
// huge pages where THP is not "never"); vectors on it keep their contents
// across growth, and a freed block is unmapped.
#include "common/huge_page_allocator.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>

namespace khod {
namespace {

bool Aligned(const void* p) { return reinterpret_cast<uintptr_t>(p) % kHugePageBytes == 0; }

// The smaps block of the mapping that contains `p`: its flags ("VmFlags")
// and its AnonHugePages in kB. Empty flags when not found.
struct SmapsEntry {
  std::string vm_flags;
  long anon_huge_kb = -1;
};
SmapsEntry SmapsOf(const void* p) {
  std::ifstream in("/proc/self/smaps");
  std::string line;
  SmapsEntry e;
  bool inside = false;
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  while (std::getline(in, line)) {
    uintptr_t lo = 0, hi = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx ", &lo, &hi) == 2 && line.find(':') > line.find(' ')) {
      if (inside) break;
      inside = lo <= a && a < hi;
      continue;
    }
    if (!inside) continue;
    if (line.rfind("AnonHugePages:", 0) == 0) e.anon_huge_kb = std::stol(line.substr(14));
    if (line.rfind("VmFlags:", 0) == 0) e.vm_flags = line.substr(8);
  }
  return e;
}

std::string ThpMode() {
  std::ifstream in("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string s;
  std::getline(in, s);
  const size_t l = s.find('['), r = s.find(']');
  return l == std::string::npos || r == std::string::npos ? "" : s.substr(l + 1, r - l - 1);
}

TEST(HugePageAllocatorTest, SmallBlocksComeFromOperatorNew) {
  HugePageAllocator<uint64_t> a;
  uint64_t* p = a.allocate(1000);  // 8 KB
  ASSERT_NE(p, nullptr);
  p[999] = 7;
  // A heap block: the mapping it lies in was not advised MADV_HUGEPAGE for it.
  EXPECT_EQ(SmapsOf(p).vm_flags.find(" hg"), std::string::npos) << SmapsOf(p).vm_flags;
  a.deallocate(p, 1000);
}

TEST(HugePageAllocatorTest, LargeBlocksAreAlignedAdvisedMappingsAndAreUnmappedWhenFreed) {
  if (!kHugePageBlocks)
    GTEST_SKIP() << "AddressSanitizer build: every block comes from operator new";
  HugePageAllocator<uint8_t> a;
  const size_t n = 3 * kHugePageBytes + 100;
  uint8_t* p = a.allocate(n);
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(Aligned(p));
  p[0] = 1;
  p[n - 1] = 2;  // the whole block is writable
  const SmapsEntry e = SmapsOf(p);
  EXPECT_NE(e.vm_flags.find(" hg"), std::string::npos) << "VmFlags:" << e.vm_flags;
  a.deallocate(p, n);
  EXPECT_TRUE(SmapsOf(p).vm_flags.empty()) << "still mapped after deallocate";
}

TEST(HugePageAllocatorTest, WrittenBlocksAreBackedByHugePagesWhereThpIsOn) {
  if (!kHugePageBlocks)
    GTEST_SKIP() << "AddressSanitizer build: every block comes from operator new";
  const std::string mode = ThpMode();
  if (mode != "always" && mode != "madvise") GTEST_SKIP() << "THP is '" << mode << "' here";
  HugePageVector<uint64_t> v(4 * kHugePageBytes / sizeof(uint64_t), 1);
  // The kernel may fall back to small pages when it has no free 2 MiB block;
  // on a machine with THP on and free memory at least one huge page is used.
  EXPECT_GT(SmapsOf(v.data()).anon_huge_kb, 0) << "no huge page behind an advised 8 MiB block";
}

TEST(HugePageAllocatorTest, VectorsKeepTheirContentsAcrossGrowthAndCopies) {
  HugePageVector<uint32_t> v;
  for (uint32_t i = 0; i < 3'000'000; ++i) v.push_back(i * 7u);  // grows from heap to mappings
  HugePageVector<uint32_t> w = v;
  HugePageVector<uint32_t> moved = std::move(v);
  ASSERT_EQ(w.size(), 3'000'000u);
  ASSERT_EQ(moved.size(), 3'000'000u);
  for (uint32_t i = 0; i < 3'000'000; i += 999) {
    ASSERT_EQ(w[i], i * 7u);
    ASSERT_EQ(moved[i], i * 7u);
  }
  w.clear();
  w.shrink_to_fit();  // back below the threshold: the mapping is returned
  EXPECT_TRUE(w.empty());
}

TEST(HugePageAllocatorTest, AdviseHugePagesCoversOnlyWholeAlignedRangesInside) {
  // A string's buffer from malloc: 6 MiB holds at least two aligned 2 MiB ranges.
  std::string s;
  s.reserve(6 << 20);
  char* p = &s[0];
  EXPECT_TRUE(AdviseHugePages(p, s.capacity()));
  const uintptr_t first =
      (reinterpret_cast<uintptr_t>(p) + kHugePageBytes - 1) & ~(uintptr_t{kHugePageBytes} - 1);
  EXPECT_NE(SmapsOf(reinterpret_cast<void*>(first)).vm_flags.find(" hg"), std::string::npos);
  if (first > reinterpret_cast<uintptr_t>(p)) {  // the unaligned head is not advised
    EXPECT_EQ(SmapsOf(p).vm_flags.find(" hg"), std::string::npos);
  }
  s.assign(6 << 20, 'x');  // still an ordinary, writable buffer
  EXPECT_EQ(s[(6 << 20) - 1], 'x');
  // Less than one aligned huge page: nothing to advise.
  char small[4096];
  EXPECT_FALSE(AdviseHugePages(small, sizeof small));
  EXPECT_FALSE(AdviseHugePages(nullptr, 8 << 20));
}

TEST(HugePageAllocatorTest, AnImpossibleSizeThrowsInsteadOfWrapping) {
  HugePageAllocator<uint64_t> a;
  EXPECT_THROW(a.allocate(static_cast<size_t>(-1) / 4), std::bad_array_new_length);
}

}  // namespace
}  // namespace khod
