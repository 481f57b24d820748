// kernel/child_reaper.h: a child khod lets go of is reaped once it exits, and one that has
// not exited when khod execs is named to the program the exec starts (--reap), which reaps it
// in turn: without that it would stay a zombie of the next khod.
#include "kernel/child_reaper.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/numbers.h"
#include "tests/support/fixture.h"

namespace khod {
namespace {

using Clock = std::chrono::steady_clock;

constexpr char kAfterExec[] = "KHOD_CHILD_REAPER_TEST_AFTER_EXEC";

// Whether `pid` is still a child of this process (alive or a zombie): not yet reaped.
bool NotReaped(pid_t pid) {
  siginfo_t info;
  std::memset(&info, 0, sizeof(info));
  return ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT | __WALL) == 0;
}

// Whether `pid` has exited and is a zombie of this process.
bool IsZombieChild(pid_t pid) {
  siginfo_t info;
  std::memset(&info, 0, sizeof(info));
  return ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT | __WALL) ==
             0 &&
         info.si_pid == pid;
}

bool Listed(pid_t pid) {
  const std::vector<pid_t> v = ChildrenNotYetReaped();
  return std::find(v.begin(), v.end(), pid) != v.end();
}

// The program the exec in AChildNotYetReapedAtAnExecIsReapedByTheNextProgram starts: this
// test binary again, told by kAfterExec ("MODE:PIDS:FD") to be the next khod. MODE "reap"
// reaps the pids it was handed, as khod does, and "ignore" (the control) does not; then it
// closes FD, the release of the child the previous program let go of, which exits only now,
// after the exec: the previous program's reaper thread is gone for sure. Exit 0: each was
// reaped; 20: one is a zombie no one reaps (at once for "ignore"; after 3 s for "reap"); 21:
// one never exited.
int AfterExec(const char* said) {
  const std::string s = said;
  const size_t colon = s.find(':'), last = s.rfind(':');
  if (colon == std::string::npos || last == colon) return 30;
  Result<std::vector<pid_t>> pids = ParseReapArgument(s.substr(colon + 1, last - colon - 1));
  const std::optional<int> release = ParseInt(s.substr(last + 1));
  if (!pids.ok() || !release) return 31;
  const bool reaps = s.substr(0, colon) == "reap";
  if (reaps) (void)ReapHandedOn(*pids, {});
  ::close(*release);
  const auto deadline = Clock::now() + std::chrono::seconds(3);
  for (pid_t pid : *pids) {
    while (NotReaped(pid) && Clock::now() < deadline) {
      if (!reaps && IsZombieChild(pid)) return 20;  // nothing here will reap it
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (IsZombieChild(pid)) return 20;
    if (NotReaped(pid)) return 21;
  }
  return 0;
}

// Before gtest runs: this process is the one such an exec started.
const int kRanAfterExec = [] {
  if (const char* said = std::getenv(kAfterExec)) ::_exit(AfterExec(said));
  return 0;
}();

// A child let go of but still running at the exec: what the program the exec starts does
// with the --reap it was handed. `mode` is "reap" (what khod does) or "ignore".
std::string ExecRightAfterLettingGo(const std::string& mode) {
  const pid_t khod = ::fork();
  if (khod < 0) return "fork failed";
  if (khod == 0) {
    int release = -1;
    const pid_t holder = ForkChildUntilReleased(&release);
    if (holder < 0) ::_exit(40);
    ReapWhenItExits(holder);
    const std::vector<pid_t> unreaped = ChildrenNotYetReaped();
    if (unreaped != std::vector<pid_t>{holder}) ::_exit(41);
    const std::string said = mode + ":" + ReapArgument(unreaped) + ":" + std::to_string(release);
    ::setenv(kAfterExec, said.c_str(), 1);
    char name[] = "child_reaper_test";
    char* argv[] = {name, nullptr};
    ::execv("/proc/self/exe", argv);
    ::_exit(42);
  }
  return ChildEnd(khod);
}

TEST(ChildReaperTest, AChildNotYetReapedAtAnExecIsReapedByTheNextProgram) {
  (void)kRanAfterExec;
  EXPECT_EQ(ExecRightAfterLettingGo("reap"), "exit 0");
}

// The control: the exec ends the thread that waited, and a program that is not handed the
// pid leaves the child a zombie (exit 20), which is what --reap is for.
TEST(ChildReaperTest, WithoutTheHandingOnTheChildStaysAZombieOfTheNextProgram) {
  EXPECT_EQ(ExecRightAfterLettingGo("ignore"), "exit 20");
}

TEST(ChildReaperTest, AChildIsListedUntilItIsReaped) {
  int release = -1;
  const pid_t child = ForkChildUntilReleased(&release);
  ASSERT_GT(child, 0);
  ReapWhenItExits(child);
  EXPECT_TRUE(Listed(child));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_TRUE(Listed(child)) << "listed while it runs";
  EXPECT_TRUE(NotReaped(child));
  ::close(release);
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  while (Listed(child) && Clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_FALSE(Listed(child));
  EXPECT_FALSE(NotReaped(child)) << "unlisted before it was reaped";
}

TEST(ChildReaperTest, HandedOnPidsThatAreNotItsChildrenOrAreKeptAreLeftAlone) {
  int release = -1;
  const pid_t kept = ForkChildUntilReleased(&release);
  ASSERT_GT(kept, 0);
  const pid_t parent = ::getppid();
  const std::string said = ReapHandedOn({parent, kept}, {kept});
  EXPECT_EQ(said,
            "waits for 0 children the previous khod let go of (not children of this "
            "khod: " +
                std::to_string(parent) + ")");
  EXPECT_FALSE(Listed(kept));
  ::close(release);
  EXPECT_EQ(ChildEnd(kept), "exit 0") << "the kept child was reaped by someone else";
}

TEST(ChildReaperTest, AChildNamedTwiceIsWaitedForOnce) {
  int release = -1;
  const pid_t child = ForkChildUntilReleased(&release);
  ASSERT_GT(child, 0);
  EXPECT_EQ(ReapHandedOn({child, child}, {}), "waits for 1 children the previous khod let go of");
  const std::vector<pid_t> listed = ChildrenNotYetReaped();
  EXPECT_EQ(std::count(listed.begin(), listed.end(), child), 1);
  ::close(release);
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  while (Listed(child) && Clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_FALSE(NotReaped(child));
}

TEST(ChildReaperTest, ReapArgumentRoundTripsAndBadValuesAreNamed) {
  EXPECT_EQ(ReapArgument({12, 3456}), "12,3456");
  Result<std::vector<pid_t>> pids = ParseReapArgument("12,3456");
  ASSERT_TRUE(pids.ok()) << pids.status().ToString();
  EXPECT_EQ(*pids, (std::vector<pid_t>{12, 3456}));
  for (const char* bad : {"", "0", "1,,2", "-3", "7,", "x", "2147483648"}) {
    Result<std::vector<pid_t>> r = ParseReapArgument(bad);
    EXPECT_FALSE(r.ok()) << "'" << bad << "'";
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument) << bad;
      EXPECT_NE(r.status().message().find("--reap pid"), std::string::npos) << r.status().message();
    }
  }
}

}  // namespace
}  // namespace khod
