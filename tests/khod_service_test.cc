// khod as a host service, driven as an operator or a service manager would:
// its command line (--help, "--flag value"), and khoctl's help.
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

#include <gtest/gtest.h>

#include "khoctl/client.h"
#include "tools/rehearsal/child_process.h"

namespace khod {
namespace {

// Runs `command` through the shell; returns its exit code and stdout.
int RunShell(const std::string& command, std::string* out) {
  out->clear();
  FILE* p = ::popen(command.c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) out->append(buf, n);
  int st = ::pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

class KhodServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char t[] = "/tmp/khod-service-test.XXXXXX";
    dir_ = ::mkdtemp(t);
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }
  std::string dir_;
};

TEST_F(KhodServiceTest, KhodHelpExitsZeroAndListsItsFlags) {
  std::string out;
  EXPECT_EQ(RunShell("daemon/khod --help", &out), 0);
  EXPECT_NE(out.find("usage: khod"), std::string::npos) << out;
  EXPECT_NE(out.find("--socket PATH"), std::string::npos) << out;
  EXPECT_NE(out.find("--state-dir DIR"), std::string::npos) << out;
  // Flags only a reexec sets are not offered to operators.
  EXPECT_EQ(out.find("--listen-fd"), std::string::npos) << out;
}

TEST_F(KhodServiceTest, KhodRefusesAnUnknownFlagOrArgument) {
  std::string out;
  EXPECT_EQ(RunShell("daemon/khod --no-such-flag 2>&1", &out), 2);
  EXPECT_NE(out.find("unknown flag '--no-such-flag'"), std::string::npos) << out;
  EXPECT_EQ(RunShell("daemon/khod stray 2>&1", &out), 2);
  EXPECT_NE(out.find("unexpected argument 'stray'"), std::string::npos) << out;
  EXPECT_EQ(RunShell("daemon/khod --transport 2>&1", &out), 2);
  EXPECT_NE(out.find("'--transport' needs a value"), std::string::npos) << out;
}

TEST_F(KhodServiceTest, SocketGivenAsSeparateArgumentServes) {
  const std::string sock = dir_ + "/k.sock";
  Result<ChildProcess> k = ChildProcess::Start(
      {"daemon/khod", "--socket", sock, "--state-dir", dir_ + "/state"}, false, dir_ + "/khod.log");
  ASSERT_TRUE(k.ok());
  EXPECT_TRUE(KhodClient(sock).WaitHealthy(std::chrono::seconds(10)).ok());
  std::string out;
  EXPECT_EQ(RunShell("khoctl/khoctl status --socket " + sock, &out), 0);
  EXPECT_NE(out.find("IDLE"), std::string::npos) << out;
}

TEST_F(KhodServiceTest, KhoctlCommandHelpPrintsItsUsage) {
  std::string out;
  EXPECT_EQ(RunShell("khoctl/khoctl status --help", &out), 0);
  EXPECT_NE(out.find("usage: khoctl status"), std::string::npos) << out;
  EXPECT_EQ(RunShell("khoctl/khoctl verify -h", &out), 0);
  EXPECT_NE(out.find("usage: khoctl verify OUT"), std::string::npos) << out;
  EXPECT_NE(out.find("usage: khoctl verify [--socket PATH]"), std::string::npos) << out;
  // Exit codes and messages of a real mistake stay as they were.
  EXPECT_EQ(RunShell("khoctl/khoctl status --bogus 2>&1", &out), 2);
  EXPECT_NE(out.find("khoctl status: unknown flag '--bogus'"), std::string::npos) << out;
}

}  // namespace
}  // namespace khod
