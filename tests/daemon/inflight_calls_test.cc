// daemon/inflight_calls.h: what a stop waits for before khod goes.
#include "daemon/inflight_calls.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace khod {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

// A client that calls again and again (khoctl polling for the new khod
// during a reexec) does not hold the stop: only the calls in flight when it
// began are waited for. Waiting for a moment with no call in flight, as khod
// did, returns false at the deadline here.
TEST(InflightCallsTest, CallsBegunAfterTheWaitAreNotWaitedFor) {
  InflightCalls calls;
  const uint64_t freeze = calls.Enter();  // in flight when the stop begins
  std::atomic<bool> polling{true};
  std::thread poller([&] {
    while (polling) {
      const uint64_t c = calls.Enter();
      std::this_thread::sleep_for(milliseconds(1));
      calls.Leave(c);
    }
  });
  std::thread reply([&] {
    std::this_thread::sleep_for(milliseconds(20));
    calls.Leave(freeze);
  });
  EXPECT_TRUE(
      calls.WaitForCallsInFlight(milliseconds(2), steady_clock::now() + std::chrono::seconds(20)));
  polling = false;
  poller.join();
  reply.join();
}

TEST(InflightCallsTest, ACallInFlightIsWaitedForUntilTheDeadline) {
  InflightCalls calls;
  const uint64_t call = calls.Enter();
  EXPECT_EQ(calls.count(), 1);
  EXPECT_FALSE(calls.WaitForCallsInFlight(milliseconds(2), steady_clock::now() + milliseconds(30)));
  calls.Leave(call);
  EXPECT_EQ(calls.count(), 0);
  EXPECT_TRUE(
      calls.WaitForCallsInFlight(milliseconds(2), steady_clock::now() + std::chrono::seconds(20)));
}

}  // namespace
}  // namespace khod
