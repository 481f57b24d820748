// capture/warm_up_queue.h: warm-ups run in turn on one thread; finishing one
// waits for it when it runs and drops it when it has not started.
#include "capture/warm_up_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace khod {
namespace {

void WaitFor(const std::atomic<bool>& flag) {
  while (!flag) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

TEST(WarmUpQueueTest, WarmUpsRunInTurnOnOneThreadInTheOrderAsked) {
  std::mutex mu;
  std::vector<int> order;
  std::set<std::thread::id> threads;
  std::atomic<int> running{0}, most{0};
  std::vector<std::shared_ptr<WarmUpTicket>> tickets;
  for (int i = 0; i < 20; ++i)
    tickets.push_back(WarmUpQueue::Submit([&, i] {
      most = std::max(most.load(), ++running);
      std::this_thread::sleep_for(std::chrono::microseconds(200));
      {
        std::lock_guard<std::mutex> l(mu);
        order.push_back(i);
        threads.insert(std::this_thread::get_id());
      }
      --running;
    }));
  // The last one is finished only after it ran (it waits for it if it has
  // started); wait for that rather than dropping it.
  while (!WarmUpQueue::Ran(tickets.back()))
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  for (auto& t : tickets) WarmUpQueue::Finish(t);
  ASSERT_EQ(order.size(), 20u);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(order[i], i);
  EXPECT_EQ(most, 1);  // never two at once
  EXPECT_EQ(threads.size(), 1u);
  EXPECT_EQ(threads.count(std::this_thread::get_id()), 0u);  // in the background
}

TEST(WarmUpQueueTest, FinishWaitsForARunningWarmUpAndDropsAQueuedOne) {
  std::atomic<bool> started{false}, release{false}, finished{false}, second_ran{false};
  auto first = WarmUpQueue::Submit([&] {
    started = true;
    WaitFor(release);
    finished = true;
  });
  auto second = WarmUpQueue::Submit([&] { second_ran = true; });
  WaitFor(started);
  // The second has not started (the one thread is busy): dropped.
  WarmUpQueue::Finish(second);
  EXPECT_FALSE(WarmUpQueue::Ran(second));
  std::thread releaser([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    release = true;
  });
  WarmUpQueue::Finish(first);  // returns only once it has run to its end
  EXPECT_TRUE(finished);
  EXPECT_TRUE(WarmUpQueue::Ran(first));
  releaser.join();
  // The queue goes on after a drop, and never runs the dropped one.
  std::atomic<bool> third_ran{false};
  auto third = WarmUpQueue::Submit([&] { third_ran = true; });
  while (!WarmUpQueue::Ran(third)) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  WarmUpQueue::Finish(third);
  EXPECT_TRUE(third_ran);
  EXPECT_FALSE(second_ran);
  WarmUpQueue::Finish(nullptr);  // nothing to finish
  WarmUpQueue::Finish(first);    // finished before: returns at once
}

}  // namespace
}  // namespace khod
