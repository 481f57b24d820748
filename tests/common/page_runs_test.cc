// DifferingPageRuns: exactly the pages whose bytes differ, in maximal runs,
// whatever the two lengths; WritePageRuns writes those and nothing else.
#include "common/page_runs.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "common/unique_fd.h"

namespace khod {
namespace {

constexpr size_t kPage = 4096;

std::string Pages(size_t n, char fill) { return std::string(n * kPage, fill); }

std::vector<PageRun> Runs(std::string_view before, std::string_view after) {
  return DifferingPageRuns(before, after, kPage).runs;
}

TEST(PageRunsTest, EqualBytesDifferNowhere) {
  const std::string a = Pages(8, 'a') + "tail";
  EXPECT_TRUE(Runs(a, a).empty());
  EXPECT_TRUE(Runs("", "").empty());
}

TEST(PageRunsTest, OneByteMarksItsPageAndAdjacentPagesMerge) {
  const std::string a = Pages(16, 'a');
  std::string b = a;
  b[5] = 'b';               // page 0
  b[10 * kPage + 7] = 'c';  // page 10
  b[11 * kPage] = 'c';      // page 11: one run with page 10
  b[16 * kPage - 1] = 'd';  // the last byte: page 15
  EXPECT_EQ(Runs(a, b),
            (std::vector<PageRun>{{0, kPage}, {10 * kPage, 12 * kPage}, {15 * kPage, 16 * kPage}}));
  EXPECT_EQ(DifferingPageRuns(a, b, kPage).pages(kPage), 4u);
}

TEST(PageRunsTest, LongerOrShorterContentsDifferWhereTheLengthsDo) {
  const std::string a = Pages(8, 'a') + "tail";
  // Longer: the page the old end is inside, and every page after it.
  const std::string longer = a + Pages(3, 'a');
  EXPECT_EQ(Runs(a, longer), (std::vector<PageRun>{{8 * kPage, longer.size()}}));
  EXPECT_EQ(DifferingPageRuns(a, longer, kPage).pages(kPage), 4u);
  // Shorter: nothing to write where the bytes kept are equal, a page boundary
  // or not (the caller truncates); the last page where they differ.
  EXPECT_TRUE(Runs(a, a.substr(0, 2 * kPage + 100)).empty());
  EXPECT_TRUE(Runs(a, a.substr(0, 3 * kPage)).empty());
  const std::string shorter = a.substr(0, 2 * kPage + 99) + "x";
  EXPECT_EQ(Runs(a, shorter), (std::vector<PageRun>{{2 * kPage, 2 * kPage + 100}}));
  // From nothing: every page.
  EXPECT_EQ(Runs("", a), (std::vector<PageRun>{{0, a.size()}}));
  EXPECT_TRUE(Runs(a, "").empty());
}

TEST(PageRunsTest, PagesHoldingRoundsOutMergesAndClips) {
  const size_t size = 10 * kPage + 5;
  EXPECT_TRUE(PagesHolding({}, size, kPage).runs.empty());
  // Two ranges in page 0 (given out of order), one across pages 3-4, one in
  // page 5 (merged with 3-4), one in the short last page, one past the end.
  EXPECT_EQ(PagesHolding({{kPage * 5 + 1, kPage * 5 + 2},
                          {100, 108},
                          {8, 16},
                          {3 * kPage + 4090, 4 * kPage + 2},
                          {10 * kPage + 1, 10 * kPage + 3},
                          {20 * kPage, 20 * kPage + 8}},
                         size, kPage)
                .runs,
            (std::vector<PageRun>{{0, kPage}, {3 * kPage, 6 * kPage}, {10 * kPage, size}}));
  EXPECT_TRUE(PagesHolding({{7, 7}}, size, kPage).runs.empty());  // an empty range
}

TEST(PageRunsTest, AllPagesIsOneRunOverEverything) {
  EXPECT_EQ(AllPages(Pages(3, 'x')).runs, (std::vector<PageRun>{{0, 3 * kPage}}));
  EXPECT_TRUE(AllPages("").runs.empty());
}

TEST(PageRunsTest, WritesTheRunsAndLeavesEveryOtherByte) {
  UniqueFd fd(::memfd_create("page-runs-test", MFD_CLOEXEC));
  ASSERT_TRUE(fd.valid());
  const std::string a = Pages(6, 'a');
  ASSERT_EQ(::pwrite(fd.get(), a.data(), a.size(), 0), static_cast<ssize_t>(a.size()));
  std::string b = a;
  b[kPage + 1] = 'b';
  b[4 * kPage + 2] = 'c';
  // Bytes the runs do not name stay as they were, even where `b` differs:
  // only the runs given are written.
  b[3 * kPage] = 'z';
  PageRuns runs;
  runs.runs = {{kPage, 2 * kPage}, {4 * kPage, 5 * kPage}};
  ASSERT_TRUE(WritePageRuns(fd.get(), b, runs, "test memfd").ok());
  std::string got(a.size(), '\0');
  ASSERT_EQ(::pread(fd.get(), &got[0], got.size(), 0), static_cast<ssize_t>(got.size()));
  std::string want = a;
  want[kPage + 1] = 'b';
  want[4 * kPage + 2] = 'c';
  EXPECT_EQ(got, want);
}

TEST(PageRunsTest, AWriteThatFailsNamesTheFile) {
  PageRuns runs;
  runs.runs = {{0, 10}};
  Status s = WritePageRuns(-1, "0123456789", runs, "the draft");
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("the draft"), std::string::npos) << s.ToString();
}

}  // namespace
}  // namespace khod
