// NonPresentPagesInShares (capture/change_scan.h): the page-table walk cut
// into shares gives the very spans of one walk, for any number of threads,
// with spans crossing the cuts, and both agree with pagemap's present bit
// read page by page.
#include "capture/change_scan.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <vector>

#include "common/unique_fd.h"
#include "kernel/pagemap_scan.h"

namespace khod {

// Found by argument-dependent lookup, so beside PageSpan.
bool operator==(const PageSpan& a, const PageSpan& b) {
  return a.first == b.first && a.count == b.count;
}

namespace {

constexpr uint64_t kPages = 16384;  // 64 MiB: 32 page tables

class ChangeScanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    page_ = static_cast<uint64_t>(::getpagesize());
    base_ = static_cast<char*>(::mmap(nullptr, kPages * page_, PROT_READ | PROT_WRITE,
                                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    ASSERT_NE(base_, MAP_FAILED);
    ASSERT_EQ(::madvise(base_, kPages * page_, MADV_NOHUGEPAGE), 0);  // one PTE per page
    pagemap_ = UniqueFd(::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(pagemap_.valid());
  }
  void TearDown() override {
    if (base_ != MAP_FAILED) ::munmap(base_, kPages * page_);
  }
  void Touch(uint64_t first, uint64_t count) {
    for (uint64_t p = first; p < first + count; ++p) base_[p * page_] = 1;
  }
  uint64_t addr() const { return reinterpret_cast<uint64_t>(base_); }
  // The reference: pagemap's present bit (63), page by page.
  std::vector<PageSpan> PerPage() {
    std::vector<uint64_t> e(kPages);
    EXPECT_EQ(
        ::pread(pagemap_.get(), e.data(), e.size() * 8, static_cast<off_t>(addr() / page_ * 8)),
        static_cast<ssize_t>(e.size() * 8));
    std::vector<PageSpan> out;
    for (uint64_t p = 0; p < kPages; ++p) {
      if (e[p] >> 63) continue;
      if (!out.empty() && out.back().end() == p)
        ++out.back().count;
      else
        out.push_back(PageSpan{p, 1});
    }
    return out;
  }

  uint64_t page_ = 4096;
  char* base_ = static_cast<char*>(MAP_FAILED);
  UniqueFd pagemap_;
};

TEST_F(ChangeScanTest, SharesGiveTheSpansOfOneWalkForAnyThreadCount) {
  // Present runs and holes of every kind: crossing page-table boundaries
  // (multiples of 512), one page, a whole page table, the first and last page.
  Touch(0, 1);
  Touch(500, 30);     // crosses 512
  Touch(1024, 512);   // exactly one page table
  Touch(3000, 2000);  // crosses several
  Touch(8191, 2);     // the middle cut of 2 shares
  Touch(12000, 7);
  Touch(kPages - 1, 1);
  const std::vector<PageSpan> reference = PerPage();
  ASSERT_GT(reference.size(), 5u);
  Result<std::vector<PageSpan>> one = NonPresentPages(pagemap_.get(), addr(), kPages);
  if (!one.ok() && one.status().code() == Status::Code::kUnsupported)
    GTEST_SKIP() << one.status().ToString();
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  EXPECT_EQ(*one, reference);
  for (int threads : {1, 2, 3, 7, 64}) {
    Result<std::vector<PageSpan>> shared =
        NonPresentPagesInShares(pagemap_.get(), addr(), kPages, threads, /*min_share=*/1);
    ASSERT_TRUE(shared.ok()) << threads << ": " << shared.status().ToString();
    EXPECT_EQ(*shared, reference) << threads << " threads";
  }
  // A range not a multiple of a page table, and one smaller than a share.
  Result<std::vector<PageSpan>> odd =
      NonPresentPagesInShares(pagemap_.get(), addr() + 3 * page_, kPages - 100, 3, 1);
  Result<std::vector<PageSpan>> odd_one =
      NonPresentPages(pagemap_.get(), addr() + 3 * page_, kPages - 100);
  ASSERT_TRUE(odd.ok() && odd_one.ok());
  EXPECT_EQ(*odd, *odd_one);
  Result<std::vector<PageSpan>> small = NonPresentPagesInShares(pagemap_.get(), addr(), 10, 4, 1);
  ASSERT_TRUE(small.ok());
  ASSERT_EQ(small->size(), 1u);  // page 0 present, then 1..9 absent
  EXPECT_EQ((*small)[0], (PageSpan{1, 9}));
}

}  // namespace
}  // namespace khod
