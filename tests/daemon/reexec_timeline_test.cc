// The reexec timeline's flag and arithmetic (daemon/reexec_timeline.h); the
// real reexec's timeline is checked in daemon_grpc_test and khoctl_session_test.
#include "daemon/reexec_timeline.h"

#include <gtest/gtest.h>

namespace khod {
namespace {

TEST(ReexecTimelineTest, FlagRoundTrips) {
  const std::string arg = ReexecTimingArgument(ReexecMarks{123456789, 123999999});
  EXPECT_EQ(arg, "--reexec-timing=123456789,123999999");
  Result<ReexecMarks> m = ParseReexecTiming(arg.substr(arg.find('=') + 1));
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->ready_ns, 123456789);
  EXPECT_EQ(m->exec_ns, 123999999);
}

TEST(ReexecTimelineTest, MalformedFlagIsRefusedNamingIt) {
  for (const std::string bad : {"", "5", "5,", ",5", "a,5", "5,-1", "5, 6",
                                "1234567890123456789,1234567890123456789", "5,6,7"}) {
    Result<ReexecMarks> m = ParseReexecTiming(bad);
    ASSERT_FALSE(m.ok()) << "'" << bad << "' was accepted";
    EXPECT_NE(m.status().message().find("--reexec-timing"), std::string::npos)
        << m.status().message();
  }
  Result<ReexecMarks> backwards = ParseReexecTiming("9,8");
  ASSERT_FALSE(backwards.ok());
  EXPECT_NE(backwards.status().message().find("before the handover stamp"), std::string::npos)
      << backwards.status().message();
}

TEST(ReexecTimelineTest, StepsAreTheDifferences) {
  Result<v1::ReexecTimeline> t = MakeReexecTimeline(ReexecMarks{1000, 7000}, 15000, 18000, 22000);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->stop_nanos(), 6000u);
  EXPECT_EQ(t->exec_nanos(), 8000u);
  EXPECT_EQ(t->open_nanos(), 3000u);
  EXPECT_EQ(t->serve_nanos(), 4000u);
}

TEST(ReexecTimelineTest, StampsOutOfOrderGiveNoTimeline) {
  // main() before the exec: a flag from another boot, or made by hand.
  Result<v1::ReexecTimeline> t = MakeReexecTimeline(ReexecMarks{1000, 7000}, 6000, 8000, 9000);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("out of order"), std::string::npos) << t.status().message();
  EXPECT_FALSE(MakeReexecTimeline(ReexecMarks{1000, 7000}, 8000, 7999, 9000).ok());
  EXPECT_FALSE(MakeReexecTimeline(ReexecMarks{1000, 7000}, 8000, 9000, 8999).ok());
}

TEST(ReexecTimelineTest, TextNamesEachStepAndTheTotal) {
  v1::ReexecTimeline t;
  t.set_stop_nanos(6100000);
  t.set_exec_nanos(7900000);
  t.set_open_nanos(3000000);
  t.set_serve_nanos(4100000);
  EXPECT_EQ(ReexecTimelineText(t),
            "stop 6.10 ms, exec 7.90 ms, open 3.00 ms, serve 4.10 ms: 21.10 ms from handover to "
            "serving");
}

TEST(ReexecTimelineTest, ClockIsMonotonic) {
  const int64_t a = MonotonicNs();
  EXPECT_GT(a, 0);
  EXPECT_GE(MonotonicNs(), a);
}

}  // namespace
}  // namespace khod
