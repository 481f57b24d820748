// One khod per state dir and per socket (issue 11 item 12), with the real
// binary: a second khod on the same state dir or on the same socket stops at
// start-up saying why, while the first keeps answering; a --socket naming a
// regular file is refused and the file kept.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "khoctl/client.h"
#include "tests/support/fixture.h"
#include "tools/rehearsal/child_process.h"

namespace khod {
namespace {

bool Has(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

std::string Slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

class InstanceTest : public ::testing::Test {
 protected:
  // Runs a khod expected to refuse to start: its exit code (it must exit
  // on its own within 20 s) and what it said.
  int RunRefused(const std::vector<std::string>& args, std::string* said) {
    const std::string log = dir_ + "/refused.log";
    std::vector<std::string> argv = {"daemon/khod"};
    argv.insert(argv.end(), args.begin(), args.end());
    Result<ChildProcess> c = ChildProcess::Start(argv, false, log);
    EXPECT_TRUE(c.ok());
    if (!c.ok()) return -1;
    bool exited = false;
    for (int i = 0; i < 200 && !exited; ++i) {
      siginfo_t si{};  // not reaped here: Wait() below does
      exited =
          ::waitid(P_PID, c->pid(), &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == c->pid();
      if (!exited) ::usleep(100 * 1000);
    }
    if (!exited) {
      c->Stop(SIGKILL);
      *said = "still running after 20 s";
      return -1;
    }
    const int st = c->Wait();
    *said = Slurp(log);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }
  TempDir tmp_{"instance-test", TempDir::Use::kSocket};
  const std::string dir_ = tmp_.path();
};

TEST_F(InstanceTest, ASecondKhodOnTheSameStateDirOrSocketRefusesWhileTheFirstAnswers) {
  const std::string sock = dir_ + "/k.sock", state = dir_ + "/state";
  Result<ChildProcess> first = ChildProcess::Start(
      {"daemon/khod", "--socket=" + sock, "--state-dir=" + state}, false, dir_ + "/first.log");
  ASSERT_TRUE(first.ok());
  KhodClient client(sock);
  ASSERT_TRUE(client.WaitHealthy(std::chrono::seconds(10)).ok());
  Result<v1::StatusReply> before = client.GetStatus();
  ASSERT_TRUE(before.ok()) << before.status().ToString();

  std::string said;
  // Same state dir, another socket: the lock stops it before it binds.
  EXPECT_EQ(RunRefused({"--socket=" + dir_ + "/other.sock", "--state-dir=" + state}, &said), 2);
  EXPECT_TRUE(Has(said, "another khod (pid " + std::to_string(first->pid()) + ") holds " + state +
                            "/khod.lock"))
      << said;
  struct stat st;
  EXPECT_NE(::lstat((dir_ + "/other.sock").c_str(), &st), 0) << "the refused khod bound a socket";

  // Same socket, another state dir: it must not take the first one's socket.
  EXPECT_EQ(RunRefused({"--socket=" + sock, "--state-dir=" + dir_ + "/state2"}, &said), 2);
  EXPECT_TRUE(Has(said, "another khod serves " + sock)) << said;

  // The first still answers, on the same socket, as the same process.
  Result<v1::StatusReply> after = client.GetStatus();
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_EQ(after->pid(), before->pid());
  EXPECT_EQ(first->Stop(SIGTERM), 0);

  // Once it is gone, its stale socket is replaced by the next khod.
  Result<ChildProcess> next = ChildProcess::Start(
      {"daemon/khod", "--socket=" + sock, "--state-dir=" + state}, false, dir_ + "/next.log");
  ASSERT_TRUE(next.ok());
  EXPECT_TRUE(client.WaitHealthy(std::chrono::seconds(10)).ok()) << Slurp(dir_ + "/next.log");
  next->Stop(SIGTERM);
}

// "Max open files   SOFT   HARD   files" of /proc/PID/limits.
bool OpenFileLimits(pid_t pid, std::string* soft, std::string* hard) {
  std::istringstream lines(Slurp("/proc/" + std::to_string(pid) + "/limits"));
  for (std::string line; std::getline(lines, line);)
    if (line.rfind("Max open files", 0) == 0) {
      std::istringstream words(line.substr(sizeof("Max open files") - 1));
      return static_cast<bool>(words >> *soft >> *hard);
    }
  return false;
}

// khod holds an fd or two per guest file: started with a low soft limit (as
// systemd's 1024), it raises it to the hard limit.
TEST_F(InstanceTest, TheSoftOpenFileLimitIsRaisedToTheHardOne) {
  rlimit saved;
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  if (saved.rlim_max <= 256) GTEST_SKIP() << "the hard limit is already low";
  rlimit low = saved;
  low.rlim_cur = 256;  // inherited by the khod started below
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  const std::string sock = dir_ + "/k.sock";
  Result<ChildProcess> khod =
      ChildProcess::Start({"daemon/khod", "--socket=" + sock, "--state-dir=" + dir_ + "/state"},
                          false, dir_ + "/khod.log");
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);
  ASSERT_TRUE(khod.ok());
  ASSERT_TRUE(KhodClient(sock).WaitHealthy(std::chrono::seconds(10)).ok());
  std::string soft, hard;
  ASSERT_TRUE(OpenFileLimits(khod->pid(), &soft, &hard));
  EXPECT_EQ(soft, hard);
  EXPECT_EQ(hard, std::to_string(saved.rlim_max));
  EXPECT_EQ(khod->Stop(SIGTERM), 0);
}

TEST_F(InstanceTest, ASocketPathNamingARegularFileIsRefusedAndTheFileKept) {
  const std::string file = dir_ + "/precious";
  std::ofstream(file) << "not a socket";
  std::string said;
  EXPECT_EQ(RunRefused({"--socket=" + file, "--state-dir=" + dir_ + "/state"}, &said), 2);
  EXPECT_TRUE(Has(said, file + " exists and is not a socket")) << said;
  EXPECT_EQ(Slurp(file), "not a socket");
}

}  // namespace
}  // namespace khod
