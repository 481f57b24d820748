// FolioList: copies share one array until one changes (copy on write), a
// version names the contents, and the facts worked out once per array are
// those of its extents.
#include "state/folio_list.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace khod {
namespace {

FolioExtent Ext(uint64_t index, uint64_t pfn, uint32_t n, uint8_t order = 0) {
  return FolioExtent{index, pfn, n, order, 0};
}

TEST(FolioListTest, ACopySharesTheArrayUntilOneChanges) {
  FolioList a = {Ext(0, 100, 8), Ext(8, 500, 8)};
  FolioList b = a;
  EXPECT_TRUE(b.SharesArrayWith(a));
  EXPECT_EQ(&a[0], &b[0]);  // no copy was made
  EXPECT_EQ(a.version(), b.version());
  b.push_back(Ext(16, 900, 4));
  EXPECT_FALSE(b.SharesArrayWith(a));
  EXPECT_EQ(a.size(), 2u);  // the change did not reach the other copy
  EXPECT_EQ(b.size(), 3u);
  EXPECT_NE(a.version(), b.version());
  EXPECT_NE(a, b);
}

TEST(FolioListTest, ChangingAListOfItsOwnKeepsItsArrayButNotItsVersion) {
  FolioList a = {Ext(0, 100, 8)};
  const FolioExtent* before = &a[0];
  const uint64_t v = a.version();
  a.Mutable()[0].first_pfn = 200;
  EXPECT_EQ(&a[0], before);  // not shared: changed in place
  EXPECT_NE(a.version(), v);
  EXPECT_EQ(a.facts().pages, 8u);
}

TEST(FolioListTest, EqualListsOfTwoArraysAreEqual) {
  FolioList a = {Ext(0, 100, 8)}, b = {Ext(0, 100, 8)};
  EXPECT_FALSE(a.SharesArrayWith(b));
  EXPECT_EQ(a, b);
  EXPECT_EQ(FolioList(), FolioList{});
  FolioList c = b;
  c.clear();
  EXPECT_TRUE(c.empty());
  EXPECT_EQ(c, FolioList());
  EXPECT_EQ(b.size(), 1u);
}

TEST(FolioListTest, FactsAreThoseOfTheExtentsAndFollowAChange) {
  FolioList a = {Ext(0, 100, 8), Ext(8, kPfnUnknown, 4), Ext(16, 700, 2, 1)};
  const FolioListFacts& f = a.facts();
  EXPECT_TRUE(f.well_formed);
  EXPECT_EQ(f.pages, 16u);
  EXPECT_EQ(f.pages_pfn_known, 12u);
  EXPECT_EQ(f.end_index, 20u);
  EXPECT_EQ(f.max_order, 1);
  a.push_back(Ext(32, 900, 1));
  EXPECT_EQ(a.facts().pages, 17u);  // worked out again after the change
  EXPECT_EQ(a.facts().end_index, 33u);
}

TEST(FolioListTest, AListNoCaptureCouldMakeIsNotWellFormed) {
  const std::vector<FolioList> bad = {
      {Ext(0, 100, 0)},                  // no folios
      {Ext(0, 100, 1, 64)},              // order past 63
      {Ext(1, 100, 1, 1)},               // index not aligned to its order
      {Ext(~0ull - 2, 100, 8)},          // end overflows
      {Ext(0, ~0ull - 4, 8)},            // PFN end overflows
      {Ext(8, 100, 8), Ext(0, 500, 8)},  // out of file order
      {Ext(0, 100, 8), Ext(4, 500, 8)},  // overlapping
      {Ext(0, 100, 0xffffffffu, 40)},    // nr_folios << order overflows
  };
  for (size_t i = 0; i < bad.size(); ++i) {
    const FolioListFacts& f = bad[i].facts();
    EXPECT_FALSE(f.well_formed) << "list " << i;
    EXPECT_EQ(f.pages, 0u) << "list " << i;
  }
  EXPECT_TRUE(FolioList().facts().well_formed);
}

bool SameFacts(const FolioListFacts& a, const FolioListFacts& b) {
  return a.pages == b.pages && a.pages_pfn_known == b.pages_pfn_known &&
         a.end_index == b.end_index && a.max_order == b.max_order && a.well_formed == b.well_formed;
}

// A list long enough for four runs of 65,536 extents and more: orders 0 and
// 1, some PFNs unknown, gaps between extents.
FolioList::Extents LongList() {
  FolioList::Extents x;
  uint64_t index = 0;
  for (uint64_t i = 0; i < 4 * 65536 + 17; ++i) {
    const uint8_t order = i % 5 == 0 ? 1 : 0;
    index = (index + (order ? 1 : 0)) & ~uint64_t{order};  // aligned to its order
    x.push_back(Ext(index, i % 7 == 0 ? kPfnUnknown : 1000 + i * 4, 1 + i % 3, order));
    index = x.back().end_index() + i % 2;
  }
  return x;
}

TEST(FolioListTest, FactsWorkedOutOnManyThreadsAreThoseOfOnePass) {
  const FolioList::Extents x = LongList();
  const FolioListFacts one = FolioList(x).facts();
  ASSERT_TRUE(one.well_formed);
  for (int threads : {1, 2, 3, 4, 9}) {
    const FolioList list(x);  // an array of its own: nothing worked out yet
    EXPECT_TRUE(SameFacts(list.WorkOutFacts(threads), one)) << threads;
    EXPECT_TRUE(SameFacts(list.facts(), one)) << threads;  // kept
  }
}

TEST(FolioListTest, ABreakAtARunsFirstOrLastExtentIsFoundOnManyThreads) {
  const FolioList::Extents good = LongList();
  const size_t n = good.size();
  // Where runs meet for 2, 3 and 4 threads, on either side, and inside one.
  for (size_t at : {n / 2, n / 2 - 1, n / 3, n / 3 - 1, n / 4, n * 3 / 4, size_t{12345}}) {
    for (int kind = 0; kind < 3; ++kind) {
      FolioList::Extents x = good;
      if (kind == 0) x[at].first_index = x[at - 1].first_index;  // overlaps the one before
      if (kind == 1) x[at].order = 64;                           // no end at all
      if (kind == 2) x[at].nr_folios = 0;
      for (int threads : {1, 2, 3, 4}) {
        const FolioList list(x);
        const FolioListFacts& f = list.WorkOutFacts(threads);
        EXPECT_FALSE(f.well_formed)
            << "extent " << at << " kind " << kind << " threads " << threads;
        EXPECT_EQ(f.pages, 0u);
      }
    }
  }
}

TEST(FolioListTest, CopiesInManyThreadsAgreeOnVersionAndFacts) {
  FolioList::Extents big;
  for (uint64_t i = 0; i < 100000; ++i) big.push_back(Ext(2 * i, 10 * i, 1));
  const FolioList shared(std::move(big));
  std::vector<uint64_t> versions(8), pages(8);
  std::vector<std::thread> ts;
  for (int t = 0; t < 8; ++t)
    ts.emplace_back([&, t] {
      FolioList mine = shared;
      versions[t] = mine.version();
      pages[t] = mine.facts().pages;
    });
  for (std::thread& t : ts) t.join();
  for (int t = 0; t < 8; ++t) {
    EXPECT_EQ(versions[t], shared.version());
    EXPECT_EQ(pages[t], 100000u);
  }
}

}  // namespace
}  // namespace khod
