// tools/vmm_fixture refuses what it cannot do instead of doing something else:
// sizes that are not numbers (used to become 0), commands outside the file
// (a punch "past the end" answered ok), bytes that do not fit.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "tests/support/test_guest_memfd.h"
#include "tests/support/vmm_fixture_process.h"

namespace khod {
namespace {

int RunFixture(const std::string& args) {
  const int st = std::system(
      ("timeout 20 tools/vmm_fixture/vmm_fixture " + args + " </dev/null >/dev/null 2>&1").c_str());
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
  EXPECT_EQ(RunFixture("--shmem-mib=1 --gmem-mib=0"), 0);  // --flag=value too
  EXPECT_EQ(RunFixture("--shmem-mib 1 --shmem-mib 2"), 2);
  EXPECT_EQ(RunFixture("--shmem-mib 1048577"), 2);
  EXPECT_EQ(RunFixture("stray"), 2);
}

TEST(VmmFixtureCliTest, CommandsOutsideTheFileAreRefused) {
  auto fx = VmmFixtureProcess::Start({"--shmem-mib", "1", "--gmem-mib", "0"});
  ASSERT_TRUE(fx.ok()) << fx.status().ToString();
  VmmFixtureProcess& f = **fx;
  EXPECT_TRUE(f.Command("punch shmem0 0 1").ok());
  EXPECT_TRUE(f.Command("write shmem0 1 255").ok());
  for (const char* bad : {"punch shmem0 256 1", "punch shmem0 99999999999999999 1",
                          "punch shmem0 1 18446744073709551615", "punch shmem0 0 0",
                          "write shmem0 1 256", "touch shmem0 256", "punch nope 0 1",
                          // stream extraction read the leading digits of each
                          "touch shmem0 3x", "write shmem0 1 2x", "punch shmem0 0 1x"}) {
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
  const std::string target =
      std::to_string(f.pid()) + ":" + std::to_string(f.Fd("shmem0")) + ":shmem0:";
  const uint64_t inode = f.File("shmem0")->inode();
  EXPECT_EQ(RunFixture("--take-back " + target + std::to_string(inode)), 0);
  EXPECT_EQ(RunFixture("--take-back " + target + std::to_string(inode + 1)), 1);  // another file
  const std::string same = target + std::to_string(inode);
  EXPECT_EQ(RunFixture("--take-back=" + same + "," + same), 0);  // a list, one item per file
  EXPECT_EQ(RunFixture("--take-back " + same + "," + target + std::to_string(inode + 1)), 1);
  EXPECT_EQ(RunFixture("--take-back " + same + ","), 2);
  EXPECT_EQ(RunFixture("--take-back +" + same), 2);  // sscanf's %d took the sign
  ASSERT_TRUE(f.Command("write shmem0 3 0").ok());   // the pattern broken on page 3
  EXPECT_EQ(RunFixture("--take-back " + target + std::to_string(inode)), 1);
}

// Each guest_memfd's NUMA policy is set on a mapping the fixture keeps (on
// Linux 6.18 it lives in the mapping, not the file: a temporary one took it
// along), and every memslot's userspace_addr is that file's own mapping, also
// with --shmem-mib 0 (slot 0 used to get 0).
TEST(VmmFixtureCliTest, GuestMemfdPoliciesStayAndSlotsHaveAddresses) {
  KHOD_SKIP_WITHOUT_GUEST_MEMFD();
  auto fx = VmmFixtureProcess::Start({"--shmem-mib", "0", "--gmem-mib", "1"});
  ASSERT_TRUE(fx.ok()) << fx.status().ToString();
  VmmFixtureProcess& f = **fx;
  const v1::VmmDeclaration& decl = f.report().declaration();
  ASSERT_EQ(decl.vms_size(), 1) << f.report_line();
  ASSERT_EQ(decl.vms(0).memslots_size(), 2) << f.report_line();
  const char* names[2] = {"gmem_shared", "gmem_private"};
  const char* modes[2] = {"bind:0", "prefer:0"};  // numa_maps' words for what the fixture set
  std::ifstream numa("/proc/" + std::to_string(f.pid()) + "/numa_maps");
  std::stringstream lines;
  lines << numa.rdbuf();
  for (int i = 0; i < 2; ++i) {
    const fixture::v1::FixtureFile* file = f.File(names[i]);
    ASSERT_NE(file, nullptr) << names[i];
    const std::string map = i == 0 ? file->map() : file->private_map();
    const std::string uaddr = decl.vms(0).memslots(i).userspace_addr();
    EXPECT_NE(uaddr, "0x0") << names[i];
    EXPECT_EQ(uaddr, map) << names[i];
    // numa_maps: "7f118de1e000 bind:0 file=anon_inode:[kvm-gmem] ...", keyed by the start.
    const std::string line_start = map.substr(2) + " " + modes[i] + " file=anon_inode:[kvm-gmem]";
    EXPECT_NE(lines.str().find(line_start), std::string::npos)
        << names[i] << ": no '" << line_start << "' in\n"
        << lines.str();
  }
  // A later policy command changes the kept mapping too.
  ASSERT_TRUE(f.Command("policy gmem_private interleave").ok());
  std::ifstream again("/proc/" + std::to_string(f.pid()) + "/numa_maps");
  std::stringstream after;
  after << again.rdbuf();
  const std::string map = f.File("gmem_private")->private_map().substr(2);  // checked above
  EXPECT_NE(after.str().find(map + " interleave:0 file=anon_inode:[kvm-gmem]"), std::string::npos)
      << after.str();
}

// Guests over 1 GiB: the two memslots must not overlap in guest-physical
// addresses (KVM refuses that with EEXIST), as they did when each began at
// slot << 30.
TEST(VmmFixtureCliTest, GuestMemfdsOverOneGibGetSlotsThatDoNotOverlap) {
  KHOD_SKIP_WITHOUT_GUEST_MEMFD();
  auto fx = VmmFixtureProcess::Start({"--shmem-mib", "0", "--gmem-mib", "1536", "--no-populate"});
  ASSERT_TRUE(fx.ok()) << fx.status().ToString();
  const v1::VmmDeclaration& decl = (*fx)->report().declaration();
  ASSERT_EQ(decl.vms_size(), 1);
  ASSERT_EQ(decl.vms(0).memslots_size(), 2);
  const auto& a = decl.vms(0).memslots(0);
  const auto& b = decl.vms(0).memslots(1);
  EXPECT_EQ(a.npages(), 1536u * 256);
  EXPECT_LE(a.base_gfn() + a.npages(), b.base_gfn());
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
    auto b =
        VmmFixtureProcess::Start({"--shmem-mib", "0", "--gmem-mib", "0", "--hugetlb-mib", "2"});
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    EXPECT_NE((*b)->File("hugetlb0"), nullptr) << (*b)->report_line();
    // No VM was asked for, so the report must not claim one.
    EXPECT_FALSE((*b)->report().kvm()) << (*b)->report_line();
    b->reset();  // b gives back only what it added: a keeps its 2 pages
    EXPECT_GE(NrHugepages(), 2u);
  }
}

}  // namespace
}  // namespace khod
