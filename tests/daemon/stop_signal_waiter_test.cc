// daemon/stop_signal_waiter: every stop signal taken while it runs reaches
// the callback, and one that comes while it is stopped stays pending (what
// a reexec hands on) until it runs again.
#include "daemon/stop_signal_waiter.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace khod {
namespace {

class StopSignalWaiterTest : public ::testing::Test {
 protected:
  // Blocked in this thread before the waiter's starts: it inherits the mask,
  // as khod's threads do.
  void SetUp() override {
    sigemptyset(&sigs_);
    sigaddset(&sigs_, SIGUSR1);
    sigaddset(&sigs_, SIGUSR2);
    ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &sigs_, nullptr), 0);
  }
  void TearDown() override {
    timespec none = {0, 0};
    while (sigtimedwait(&sigs_, nullptr, &none) > 0) {
    }
    pthread_sigmask(SIG_UNBLOCK, &sigs_, nullptr);
  }
  void Took(int signo) {
    std::lock_guard<std::mutex> l(mu_);
    taken_.push_back(signo);
    cv_.notify_all();
  }
  // The signals taken, once `n` are or after 5 s.
  std::vector<int> WaitFor(size_t n) {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait_for(l, std::chrono::seconds(5), [&] { return taken_.size() >= n; });
    return taken_;
  }
  bool Pending(int signo) {
    sigset_t p;
    sigpending(&p);
    return sigismember(&p, signo) == 1;
  }

  sigset_t sigs_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<int> taken_;
};

TEST_F(StopSignalWaiterTest, TakesEachSignalWhileItRuns) {
  StopSignalWaiter w(sigs_, [this](int s) { Took(s); });
  ASSERT_TRUE(w.Open().ok());
  w.Start();
  ASSERT_EQ(::kill(::getpid(), SIGUSR1), 0);
  EXPECT_EQ(WaitFor(1), std::vector<int>({SIGUSR1}));
  ASSERT_EQ(::kill(::getpid(), SIGUSR2), 0);
  EXPECT_EQ(WaitFor(2), std::vector<int>({SIGUSR1, SIGUSR2}));
  w.Stop();
}

TEST_F(StopSignalWaiterTest, ASignalWhileStoppedStaysPendingUntilItRunsAgain) {
  StopSignalWaiter w(sigs_, [this](int s) { Took(s); });
  ASSERT_TRUE(w.Open().ok());
  w.Start();
  w.Stop();
  ASSERT_EQ(::kill(::getpid(), SIGUSR2), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_TRUE(WaitFor(0).empty());
  EXPECT_TRUE(Pending(SIGUSR2));
  w.Start();  // as after a failed exec
  EXPECT_EQ(WaitFor(1), std::vector<int>({SIGUSR2}));
  EXPECT_FALSE(Pending(SIGUSR2));
  w.Stop();
  w.Stop();  // idempotent
}

}  // namespace
}  // namespace khod
