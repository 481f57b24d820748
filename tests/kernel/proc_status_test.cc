// kernel/proc_status.h: a number of /proc/PID/status, a count (FDSize) or a
// size in kB (RssAnon), of this process or another; a missing line and a
// line that holds no number are refused, naming them.
#include "kernel/proc_status.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

namespace khod {
namespace {

TEST(ProcStatusTest, ACountAndASizeOfThisProcessAndByPid) {
  Result<uint64_t> fds = ProcStatusNumber(0, "FDSize:");
  ASSERT_TRUE(fds.ok()) << fds.status().ToString();
  EXPECT_GE(*fds, 64u);  // the smallest descriptor table
  Result<uint64_t> rss = ProcStatusNumber(0, "VmRSS:");
  ASSERT_TRUE(rss.ok()) << rss.status().ToString();
  EXPECT_GT(*rss, 0u);
  Result<uint64_t> by_pid = ProcStatusNumber(::getpid(), "FDSize:");
  ASSERT_TRUE(by_pid.ok()) << by_pid.status().ToString();
  EXPECT_EQ(*by_pid, *fds);
}

TEST(ProcStatusTest, AMissingLineOrOneWithoutANumberIsRefused) {
  Result<uint64_t> none = ProcStatusNumber(0, "NoSuchKey:");
  EXPECT_EQ(none.status().code(), Status::Code::kNotFound) << none.status().ToString();
  EXPECT_NE(none.status().message().find("NoSuchKey:"), std::string::npos);
  Result<uint64_t> text = ProcStatusNumber(0, "State:");  // "R (running)"
  EXPECT_EQ(text.status().code(), Status::Code::kCorruption) << text.status().ToString();
}

}  // namespace
}  // namespace khod
