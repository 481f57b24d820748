// RunShares and BalancedCuts (common/thread_shares.h): every share runs once,
// on threads of their own, the lowest-numbered error wins, and the cuts cover
// the items in order with shares of about equal weight.
#include "common/thread_shares.h"

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <set>
#include <system_error>
#include <thread>
#include <utility>

namespace khod {
namespace {

TEST(RunSharesTest, EveryShareRunsOnceAndShareZeroOnTheCallingThread) {
  std::mutex mu;
  std::multiset<int> ran;
  std::set<std::thread::id> threads;
  std::thread::id zero;
  ASSERT_TRUE(RunShares(4, [&](int i) {
                std::lock_guard<std::mutex> l(mu);
                ran.insert(i);
                threads.insert(std::this_thread::get_id());
                if (i == 0) zero = std::this_thread::get_id();
                return Status::Ok();
              }).ok());
  EXPECT_EQ(ran, (std::multiset<int>{0, 1, 2, 3}));
  EXPECT_EQ(threads.size(), 4u);
  EXPECT_EQ(zero, std::this_thread::get_id());
}

TEST(RunSharesTest, TheLowestNumberedErrorWinsAndEveryShareStillRuns) {
  std::atomic<int> ran{0};
  const Status s = RunShares(5, [&](int i) {
    ++ran;
    return i == 1 || i == 3 ? Status::Corruption("share " + std::to_string(i)) : Status::Ok();
  });
  EXPECT_EQ(ran.load(), 5);
  EXPECT_EQ(s.code(), Status::Code::kCorruption);
  EXPECT_EQ(s.message(), "share 1");
}

TEST(RunSharesTest, OneShareOrFewerRunsShareZeroHere) {
  int calls = 0;
  EXPECT_TRUE(RunShares(0, [&](int i) {
                EXPECT_EQ(i, 0);
                ++calls;
                return Status::Ok();
              }).ok());
  EXPECT_EQ(calls, 1);
}

// A thread the kernel refuses (std::thread's constructor throws
// std::system_error) must not unwind past the threads already started: a
// vector of joinable threads destroyed is std::terminate. Each start from the
// first to the last fails in turn; every share still runs exactly once (those
// without a thread on the calling one), and the lowest-numbered error wins.
TEST(RunSharesTest, AThreadThatCannotStartLeavesItsSharesToTheCallingThread) {
  constexpr int kShares = 5;
  for (int fail_at = 1; fail_at < kShares; ++fail_at) {
    std::mutex mu;
    std::multiset<int> ran;
    std::set<int> here;  // shares run on the calling thread
    int starts = 0;
    const ShareThreadStart start = [&](std::function<void()> body) {
      if (++starts == fail_at)
        throw std::system_error(std::make_error_code(std::errc::resource_unavailable_try_again),
                                "test: no thread");
      return std::thread(std::move(body));
    };
    const std::thread::id caller = std::this_thread::get_id();
    const Status s = RunShares(
        kShares,
        [&](int i) {
          std::lock_guard<std::mutex> l(mu);
          ran.insert(i);
          if (std::this_thread::get_id() == caller) here.insert(i);
          return i == kShares - 1 ? Status::Corruption("last share") : Status::Ok();
        },
        start);
    EXPECT_EQ(ran, (std::multiset<int>{0, 1, 2, 3, 4})) << "failing start " << fail_at;
    EXPECT_EQ(starts, fail_at) << "no start is tried after one fails";
    std::set<int> expected_here = {0};
    for (int i = fail_at; i < kShares; ++i) expected_here.insert(i);
    EXPECT_EQ(here, expected_here) << "failing start " << fail_at;
    EXPECT_EQ(s.code(), Status::Code::kCorruption) << s.ToString();
    EXPECT_EQ(s.message(), "last share");
  }
}

TEST(BalancedCutsTest, CutsCoverTheItemsInOrderEachShareWithinOneItemOfItsPart) {
  const std::vector<uint64_t> w = {5, 1, 1, 1, 9, 2, 2, 2, 2, 3, 4, 1};
  uint64_t total = 0, max_item = 0;
  for (uint64_t x : w) total += x, max_item = std::max(max_item, x);
  for (int n = 1; n <= 6; ++n) {
    const std::vector<size_t> cuts = BalancedCuts(w, n);
    ASSERT_EQ(cuts.size(), static_cast<size_t>(n) + 1);
    EXPECT_EQ(cuts.front(), 0u);
    EXPECT_EQ(cuts.back(), w.size());
    for (int i = 0; i < n; ++i) {
      ASSERT_LE(cuts[i], cuts[i + 1]) << "n " << n << " share " << i;
      uint64_t share = 0;
      for (size_t k = cuts[i]; k < cuts[i + 1]; ++k) share += w[k];
      EXPECT_LE(share, total / n + max_item + 1) << "n " << n << " share " << i;
    }
  }
}

TEST(BalancedCutsTest, MoreSharesThanItemsLeavesSomeEmpty) {
  const std::vector<size_t> cuts = BalancedCuts({7, 7}, 4);
  ASSERT_EQ(cuts.size(), 5u);
  EXPECT_EQ(cuts.front(), 0u);
  EXPECT_EQ(cuts.back(), 2u);
  for (size_t i = 0; i + 1 < cuts.size(); ++i) EXPECT_LE(cuts[i], cuts[i + 1]);
}

TEST(AffinityCpuCountTest, AtLeastOneAndNoMoreThanTheMachineHas) {
  const int n = AffinityCpuCount();
  EXPECT_GE(n, 1);
  EXPECT_LE(static_cast<unsigned>(n), std::max(1u, std::thread::hardware_concurrency()));
}

TEST(ThreadsToUseTest, AskedWhenPositiveElseTheAffinityMask) {
  EXPECT_EQ(ThreadsToUse(1), 1);
  EXPECT_EQ(ThreadsToUse(7), 7);
  EXPECT_EQ(ThreadsToUse(0), AffinityCpuCount());
  EXPECT_EQ(ThreadsToUse(-3), AffinityCpuCount());
}

}  // namespace
}  // namespace khod
