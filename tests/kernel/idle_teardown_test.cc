// SetIdleScheduling (kernel/idle_teardown.h): a helper khod ends is given
// SCHED_IDLE, so that its exit's teardown takes only idle CPU time; what the
// kernel refuses is reported, never fatal.
#include "kernel/idle_teardown.h"

#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

namespace khod {
namespace {

TEST(IdleTeardownTest, AChildIsGivenSchedIdle) {
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::pause();
    ::_exit(0);
  }
  EXPECT_NE(::sched_getscheduler(child), SCHED_IDLE);
  EXPECT_TRUE(SetIdleScheduling(child));
  EXPECT_EQ(::sched_getscheduler(child), SCHED_IDLE);
  ::kill(child, SIGKILL);
  ASSERT_EQ(::waitpid(child, nullptr, 0), child);
}

TEST(IdleTeardownTest, NoProcessIsRefused) {
  EXPECT_FALSE(SetIdleScheduling(0));  // not this process by accident
  EXPECT_FALSE(SetIdleScheduling(-1));
}

}  // namespace
}  // namespace khod
