// Verify against the live kernel: an untouched fixture is equal to its
// snapshot; each kind of change the VMM makes is reported as one difference.
#include <gtest/gtest.h>
#include <unistd.h>

#include "capture/snapshot_capture.h"
#include "kernel/probe.h"
#include "tests/support/vmm_fixture_process.h"
#include "verify/snapshot_diff.h"

namespace khod {
namespace {

class LiveVerifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static const bool root = [] {
      KernelCaps c = ProbeKernel();
      return ::geteuid() == 0 && c.pfns_readable && c.kpageflags_readable;
    }();
    if (!root) GTEST_SKIP() << "needs root outside a user namespace: pidfd_getfd and PFNs";
    auto fx = VmmFixtureProcess::Start({"--shmem-mib", "4", "--gmem-mib", "0"});
    ASSERT_TRUE(fx.ok()) << fx.status().ToString();
    fixture_ = std::move(*fx);
    ASSERT_TRUE(ParseVmmDeclaration(fixture_->DeclarationJson(), &decl_).ok());
    auto files = OpenVmmFiles(fixture_->pid(), {fixture_->Fd("shmem0")}, decl_);
    ASSERT_TRUE(files.ok()) << files.status().ToString();
    files_ = std::move(*files);
    expected_ = Capture();
  }

  Snapshot Capture() {
    CaptureOptions o;
    o.hash_contents = true;
    auto s = CaptureSnapshot(files_, decl_, o);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? *s : Snapshot();
  }

  // Captures again through a fresh source (as `khoctl verify` does) and diffs.
  std::vector<Difference> Verify() {
    auto decl = DeclarationFromSnapshot(expected_, fixture_->pid(), {fixture_->Fd("shmem0")});
    EXPECT_TRUE(decl.ok()) << decl.status().ToString();
    auto files = OpenVmmFiles(fixture_->pid(), {fixture_->Fd("shmem0")}, *decl);
    EXPECT_TRUE(files.ok());
    CaptureOptions o;
    o.hash_contents = true;
    auto found = CaptureSnapshot(*files, *decl, o);
    EXPECT_TRUE(found.ok()) << found.status().ToString();
    return DiffSnapshots(expected_, *found).differences;
  }

  static std::string Join(const std::vector<Difference>& ds) {
    std::string s;
    for (const auto& d : ds) s += d.ToString() + "\n";
    return s;
  }

  std::unique_ptr<VmmFixtureProcess> fixture_;
  v1::VmmDeclaration decl_;
  std::vector<VmmFile> files_;
  Snapshot expected_;
};

TEST_F(LiveVerifyTest, UntouchedFixtureIsEqual) {
  EXPECT_TRUE(Verify().empty()) << Join(Verify());
  EXPECT_FALSE(expected_.gmems.at(0).hashes.empty());
}

TEST_F(LiveVerifyTest, DetectsPunchedHole) {
  ASSERT_TRUE(fixture_->Command("punch shmem0 10 3").ok());
  auto d = Verify();
  ASSERT_FALSE(d.empty());
  bool found = false;
  for (const auto& x : d)
    if (x.field == "folios pages 10-12" && x.found == "hole") found = true;
  EXPECT_TRUE(found) << Join(d);
}

TEST_F(LiveVerifyTest, DetectsNewlyTouchedPage) {
  // The fixture punched page 64 of its 1024 (a sixteenth of the way in).
  ASSERT_TRUE(fixture_->Command("touch shmem0 64").ok());
  auto d = Verify();
  bool found = false;
  for (const auto& x : d)
    if (x.field == "folios page 64" && x.expected == "hole") found = true;
  EXPECT_TRUE(found) << Join(d);
}

TEST_F(LiveVerifyTest, DetectsChangedMempolicy) {
  ASSERT_TRUE(fixture_->Command("policy shmem0 bind").ok());
  auto d = Verify();
  ASSERT_EQ(d.size(), 1u) << Join(d);
  EXPECT_EQ(d[0].field, "policy");
}

TEST_F(LiveVerifyTest, DetectsChangedContentsWithHash) {
  ASSERT_TRUE(fixture_->Command("write shmem0 20 7").ok());
  auto d = Verify();
  ASSERT_FALSE(d.empty());
  for (const auto& x : d) EXPECT_EQ(x.field.rfind("contents ", 0), 0u) << x.ToString();
}

}  // namespace
}  // namespace khod
