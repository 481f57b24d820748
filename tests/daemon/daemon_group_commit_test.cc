// GroupCommit: every waiter returns only after a write covering its ticket
// finished; concurrent changes share writes; a failed write fails its waiters
// and the next change carries everything again.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "daemon/group_commit.h"

namespace khod {
namespace {

TEST(GroupCommit, EveryWaiterSeesItsPayloadOrANewerOneDurable) {
  std::mutex mu;
  std::vector<int> written;  // payloads in write order
  GroupCommit gc([&](std::string_view p) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // an fsync
    std::lock_guard<std::mutex> l(mu);
    written.push_back(std::stoi(std::string(p)));
    return Status::Ok();
  });
  std::mutex stage_mu;  // the caller's lock (Session::mu_)
  int next = 0;
  std::atomic<int> bad{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 16; ++t)
    ts.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        uint64_t ticket;
        int mine;
        {
          std::lock_guard<std::mutex> l(stage_mu);
          mine = ++next;
          ticket = gc.Stage(std::to_string(mine), nullptr);
        }
        ASSERT_TRUE(gc.Wait(ticket).ok());
        std::lock_guard<std::mutex> l(mu);
        if (written.empty() || written.back() < mine) ++bad;  // returned before durable
      }
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(written.back(), 16 * 50);
  for (size_t i = 1; i < written.size(); ++i) EXPECT_LT(written[i - 1], written[i]);
  EXPECT_LT(written.size(), 16u * 50u);  // writes were shared
}

TEST(GroupCommit, FailedWriteFailsItsWaitersAndNextStageRetries) {
  bool fail = true;
  std::string last;
  GroupCommit gc([&](std::string_view p) {
    if (fail) return Status::IoError("disk full");
    last = std::string(p);
    return Status::Ok();
  });
  bool published = false;
  uint64_t t1 = gc.Stage("a", [&] { published = true; });
  Status s = gc.Wait(t1);
  EXPECT_EQ(s.code(), Status::Code::kIoError);
  EXPECT_FALSE(published);
  fail = false;
  uint64_t t2 = gc.Stage("b", [&] { published = true; });
  EXPECT_TRUE(gc.Wait(t2).ok());
  EXPECT_TRUE(published);
  EXPECT_EQ(last, "b");
  EXPECT_TRUE(gc.Wait(t1).ok());  // b covers a
}

}  // namespace
}  // namespace khod
