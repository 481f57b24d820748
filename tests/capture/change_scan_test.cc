// NonPresentPagesInShares (capture/change_scan.h): the page-table walk cut
// into shares gives the very spans of one walk, for any number of threads,
// with spans crossing the cuts, and both agree with pagemap's present bit
// read page by page. PagesToRescan, which works from a baseline's holes and
// the changes only, gives the pages a rule applied page by page gives.
#include "capture/change_scan.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <random>
#include <vector>

#include "capture/flag_reuse.h"
#include "capture/page_window.h"
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

// Anonymous memory of `pages` pages, every page written: the caller then
// unmaps or drops what its test needs. Unmapped at the end.
class WrittenPages {
 public:
  explicit WrittenPages(uint64_t pages)
      : page_(static_cast<uint64_t>(::getpagesize())), pages_(pages) {
    void* m =
        ::mmap(nullptr, pages * page_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return;
    base_ = static_cast<char*>(m);
    for (uint64_t p = 0; p < pages; ++p) base_[p * page_] = 1;
  }
  ~WrittenPages() {
    if (base_) ::munmap(base_, pages_ * page_);  // an unmapped part is no error
  }
  WrittenPages(const WrittenPages&) = delete;
  WrittenPages& operator=(const WrittenPages&) = delete;
  char* at(uint64_t p) const { return base_ + p * page_; }
  uint64_t addr() const { return reinterpret_cast<uint64_t>(base_); }
  uint64_t page() const { return page_; }
  bool ok() const { return base_ != nullptr; }

 private:
  uint64_t page_, pages_;
  char* base_ = nullptr;
};

// Pages with no mapping at all are not present: the kernel's walk reports no
// range where no VMA lies (an unmapped range, or a mapping holder's whole
// address space once its process is gone), so they must not be taken for
// present (and left out of what is scanned again).
TEST(PagemapScanTest, AnUnmappedRangeIsNotPresent) {
  WrittenPages m(64);
  ASSERT_TRUE(m.ok());
  ASSERT_EQ(::munmap(m.at(16), 16 * m.page()), 0);
  ASSERT_EQ(::madvise(m.at(40), 4 * m.page(), MADV_DONTNEED), 0);
  UniqueFd pagemap(::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(pagemap.valid());
  Result<std::vector<PageSpan>> absent = NonPresentPages(pagemap.get(), m.addr(), 64);
  if (!absent.ok() && absent.status().code() == Status::Code::kUnsupported)
    GTEST_SKIP() << absent.status().ToString();
  ASSERT_TRUE(absent.ok()) << absent.status().ToString();
  EXPECT_EQ(*absent, (std::vector<PageSpan>{{16, 16}, {40, 4}}));
}

// More present ranges than one call returns: the calls' answers join, and
// every page between two ranges, in a call or across two, is not present.
TEST(PagemapScanTest, MorePresentRangesThanOneCallReturnsJoin) {
  constexpr uint64_t kPages = 3001;
  WrittenPages m(kPages);
  ASSERT_TRUE(m.ok());
  std::vector<PageSpan> odd;
  for (uint64_t p = 1; p < kPages; p += 2) {
    ASSERT_EQ(::madvise(m.at(p), m.page(), MADV_DONTNEED), 0);
    odd.push_back(PageSpan{p, 1});
  }
  UniqueFd pagemap(::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(pagemap.valid());
  Result<std::vector<PageSpan>> absent = NonPresentPages(pagemap.get(), m.addr(), kPages);
  if (!absent.ok() && absent.status().code() == Status::Code::kUnsupported)
    GTEST_SKIP() << absent.status().ToString();
  ASSERT_TRUE(absent.ok()) << absent.status().ToString();
  EXPECT_EQ(*absent, odd);
}

// Sorted pages as spans, joined as PagesToRescan joins them.
std::vector<PageSpan> Joined(const std::vector<bool>& pages, uint64_t join_gap) {
  std::vector<PageSpan> out;
  for (uint64_t p = 0; p < pages.size(); ++p) {
    if (!pages[p]) continue;
    if (!out.empty() && p <= out.back().end() + join_gap)
      out.back().count = p + 1 - out.back().first;
    else
      out.push_back(PageSpan{p, 1});
  }
  return out;
}

TEST(PagesToRescanTest, GivesWhatTheRuleGivesPageByPage) {
  const uint64_t page = static_cast<uint64_t>(::getpagesize());
  constexpr uint64_t kTotal = 4096;
  UniqueFd fd(::memfd_create("rescan", MFD_CLOEXEC));
  ASSERT_TRUE(fd.valid());
  ASSERT_EQ(::ftruncate(fd.get(), static_cast<off_t>(kTotal * page)), 0);
  void* m = ::mmap(nullptr, kTotal * page, PROT_READ, MAP_SHARED, fd.get(), 0);
  ASSERT_NE(m, MAP_FAILED);
  const PageWindowReader reader(static_cast<uint8_t*>(m), nullptr, nullptr, nullptr, nullptr);
  std::mt19937_64 rng(12);
  const uint8_t kStay = kFolioUptodate | kFolioDirty;
  const uint8_t kFlags[] = {kStay, kStay, kStay, kFolioUptodate, kStay | kFolioHwpoison};
  for (int round = 0; round < 40; ++round) {
    // A baseline with holes (one at the start in some rounds, a tail in most),
    // extents of unknown PFN and of flags read every time.
    FolioList baseline;
    uint64_t at = rng() % 3 == 0 ? rng() % 50 : 0;
    const uint64_t end = kTotal - rng() % 300;
    while (at < end) {
      const uint64_t n = std::min<uint64_t>(1 + rng() % 200, end - at);
      const uint64_t pfn = rng() % 7 == 0 ? kPfnUnknown : 1000 + rng() % 100000;
      baseline.push_back(FolioExtent{at, pfn, static_cast<uint32_t>(n), 0, kFlags[rng() % 5]});
      at += n + (rng() % 4 == 0 ? rng() % 100 : 0);
    }
    // Pages not present in the vouched-for mapping, and pages resident in the
    // file (asked of the holes only).
    std::vector<bool> np(kTotal), resident(kTotal);
    std::vector<PageSpan> non_present;
    for (uint64_t p = rng() % 40; p < kTotal; p += 1 + rng() % 120) {
      const uint64_t n = std::min<uint64_t>(1 + rng() % 90, kTotal - p);
      non_present.push_back(PageSpan{p, n});
      for (uint64_t k = p; k < p + n; ++k) np[k] = true;
      p += n;
    }
    ASSERT_EQ(::fallocate(fd.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
                          static_cast<off_t>(kTotal * page)),
              0);
    for (int i = 0; i < 30; ++i) {
      const uint64_t p = rng() % kTotal, n = std::min<uint64_t>(1 + rng() % 20, kTotal - p);
      const std::vector<char> data(n * page, 1);  // written: resident (fallocate's are not)
      ASSERT_EQ(::pwrite(fd.get(), data.data(), data.size(), static_cast<off_t>(p * page)),
                static_cast<ssize_t>(data.size()));
      for (uint64_t k = p; k < p + n; ++k) resident[k] = true;
    }
    // The rule, page by page: a hole's page is new when present or resident;
    // an extent's page is read again when its PFN is unknown, its flags may
    // change while mapped, or it is not present (zapped).
    std::vector<bool> expected(kTotal);
    std::vector<bool> in_extent(kTotal);
    for (const FolioExtent& e : baseline)
      for (uint64_t p = e.first_index; p < e.end_index(); ++p) {
        in_extent[p] = true;
        expected[p] = e.first_pfn == kPfnUnknown || !FlagsStayWhileMapped(e.flags) || np[p];
      }
    for (uint64_t p = 0; p < kTotal; ++p)
      if (!in_extent[p]) expected[p] = !np[p] || resident[p];
    const RescanBase base = MakeRescanBase(baseline);
    EXPECT_EQ(base.version, baseline.version());
    // Shared between threads in runs of a few extents: the same, spans that
    // meet where runs do joined again.
    for (int threads : {2, 3, 7}) {
      const RescanBase shared = MakeRescanBase(baseline, threads, /*min_share=*/1);
      EXPECT_EQ(shared.version, base.version);
      EXPECT_EQ(shared.end, base.end) << "round " << round << ", " << threads << " threads";
      EXPECT_EQ(shared.holes, base.holes) << "round " << round << ", " << threads << " threads";
      EXPECT_EQ(shared.always, base.always) << "round " << round << ", " << threads << " threads";
    }
    for (uint64_t gap : {uint64_t{0}, uint64_t{64}}) {
      Result<std::vector<PageSpan>> got = PagesToRescan(base, kTotal, non_present, reader, gap);
      ASSERT_TRUE(got.ok()) << got.status().ToString();
      EXPECT_EQ(*got, Joined(expected, gap)) << "round " << round << ", join gap " << gap;
    }
  }
  ::munmap(m, kTotal * page);
}

// A list that is not well formed (an extent inside the one before it) is
// not shared out: a run would start where the extent before it ends, not
// where the pages so far do, and find a hole that is none.
TEST(RescanBaseTest, OfAListNotWellFormedTakesOnePass) {
  const FolioList overlapping = {FolioExtent{0, 100, 100, 0, 0}, FolioExtent{10, 500, 10, 0, 0},
                                 FolioExtent{30, 600, 10, 0, 0}, FolioExtent{150, 700, 10, 0, 0}};
  ASSERT_FALSE(overlapping.facts().well_formed);
  const RescanBase one = MakeRescanBase(overlapping);
  EXPECT_EQ(one.holes, (std::vector<PageSpan>{PageSpan{100, 50}}));
  EXPECT_EQ(one.end, 160u);
  for (int threads : {2, 3, 4}) {
    const RescanBase shared = MakeRescanBase(overlapping, threads, /*min_share=*/1);
    EXPECT_EQ(shared.holes, one.holes) << threads << " threads";
    EXPECT_EQ(shared.end, one.end) << threads << " threads";
  }
}

}  // namespace
}  // namespace khod
