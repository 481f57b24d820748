// tools/vmm_fixture refuses what it cannot do instead of doing something else:
// sizes that are not numbers (used to become 0), commands outside the file
// (a punch "past the end" answered ok), bytes that do not fit.
#include <sys/wait.h>

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "tests/vmm_fixture_process.h"

namespace khod {
namespace {

int RunFixture(const std::string& args) {
  const int st = std::system(("timeout 20 tools/vmm_fixture/vmm_fixture " + args +
                              " </dev/null >/dev/null 2>&1").c_str());
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST(VmmFixtureCliTest, ArgumentsAreChecked) {
  EXPECT_EQ(RunFixture("--help"), 0);
  EXPECT_EQ(RunFixture("--shmem-mib abc"), 2);
  EXPECT_EQ(RunFixture("--shmem-mib"), 2);
  EXPECT_EQ(RunFixture("--shmem-mib -1"), 2);
  EXPECT_EQ(RunFixture("--gmem-mib 99999999999999999999"), 2);
  EXPECT_EQ(RunFixture("--bogus"), 2);
  EXPECT_EQ(RunFixture("--shmem-mib 1 --gmem-mib 0"), 0);  // stdin closed: reports, exits
}

TEST(VmmFixtureCliTest, CommandsOutsideTheFileAreRefused) {
  auto fx = VmmFixtureProcess::Start({"--shmem-mib", "1", "--gmem-mib", "0"});
  ASSERT_TRUE(fx.ok()) << fx.status().ToString();
  VmmFixtureProcess& f = **fx;
  EXPECT_TRUE(f.Command("punch shmem0 0 1").ok());
  EXPECT_TRUE(f.Command("write shmem0 1 255").ok());
  for (const char* bad : {"punch shmem0 256 1", "punch shmem0 99999999999999999 1",
                          "punch shmem0 1 18446744073709551615", "punch shmem0 0 0",
                          "write shmem0 1 256", "touch shmem0 256", "punch nope 0 1"}) {
    Status s = f.Command(bad);
    EXPECT_FALSE(s.ok()) << bad;
  }
}

// --take-back: a second fixture plays the restarted VMM, taking the first
// one's shmem0 with pidfd_getfd (as it takes a restored file from khod).
TEST(VmmFixtureCliTest, TakeBackChecksInodeAndPattern) {
  if (::geteuid() != 0) GTEST_SKIP() << "pidfd_getfd of another process needs root";
  EXPECT_EQ(RunFixture("--take-back"), 2);
  EXPECT_EQ(RunFixture("--take-back 12:3:shmem0"), 2);
  EXPECT_EQ(RunFixture("--take-back 0:3:shmem0:1"), 2);
  auto fx = VmmFixtureProcess::Start({"--shmem-mib", "1", "--gmem-mib", "0"});
  ASSERT_TRUE(fx.ok()) << fx.status().ToString();
  VmmFixtureProcess& f = **fx;
  const std::string target = std::to_string(f.pid()) + ":" + std::to_string(f.Fd("shmem0")) +
                             ":shmem0:";
  const uint64_t inode = *f.File("shmem0")->U64Member("inode", "file");
  EXPECT_EQ(RunFixture("--take-back " + target + std::to_string(inode)), 0);
  EXPECT_EQ(RunFixture("--take-back " + target + std::to_string(inode + 1)), 1);  // another file
  ASSERT_TRUE(f.Command("write shmem0 3 0").ok());  // the pattern broken on page 3
  EXPECT_EQ(RunFixture("--take-back " + target + std::to_string(inode)), 1);
}

uint64_t NrHugepages() {
  std::ifstream f("/proc/sys/vm/nr_hugepages");
  uint64_t v = 0;
  f >> v;
  return v;
}

TEST(VmmFixtureCliTest, SecondHugetlbFixtureGetsItsOwnPages) {
  if (::geteuid() != 0) GTEST_SKIP() << "reserving huge pages needs root";
  {
    // Mapped but not populated: its 2 pages are free but reserved by the
    // first memfd, which the second fixture used to count as available
    // (then its mmap failed with ENOMEM).
    auto a = VmmFixtureProcess::Start(
        {"--shmem-mib", "0", "--gmem-mib", "0", "--hugetlb-mib", "4", "--no-populate"});
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    if ((*a)->File("hugetlb0") == nullptr) GTEST_SKIP() << "no huge pages on this machine";
    auto b = VmmFixtureProcess::Start({"--shmem-mib", "0", "--gmem-mib", "0", "--hugetlb-mib", "2"});
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    EXPECT_NE((*b)->File("hugetlb0"), nullptr) << (*b)->report_line();
    // No VM was asked for, so the report must not claim one.
    EXPECT_FALSE((*b)->report().Find("kvm")->boolean()) << (*b)->report_line();
    b->reset();  // b gives back only what it added: a keeps its 2 pages
    EXPECT_GE(NrHugepages(), 2u);
  }
}

}  // namespace
}  // namespace khod
