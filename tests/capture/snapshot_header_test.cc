// capture/snapshot_header.h: a header says which boot captured it, and what a
// capture of another boot saw stands for nothing on this one.
#include "capture/snapshot_header.h"

#include <gtest/gtest.h>

namespace khod {
namespace {

TEST(SnapshotHeaderTest, AHeaderOfThisBootIsThisBootsAndNoOtherIs) {
  const SnapshotHeader now = CurrentSnapshotHeader();
  if (CurrentBootId().empty()) GTEST_SKIP() << "no /proc/sys/kernel/random/boot_id here";
  EXPECT_EQ(now.boot_id, CurrentBootId());
  EXPECT_TRUE(CapturedThisBoot(now));
  SnapshotHeader before_kexec = now;
  before_kexec.boot_id = "4c1b1c1e-0000-4000-8000-000000000000";
  EXPECT_FALSE(CapturedThisBoot(before_kexec));
  SnapshotHeader unknown = now;
  unknown.boot_id.clear();  // a header that says nothing of its boot
  EXPECT_FALSE(CapturedThisBoot(unknown));
}

}  // namespace
}  // namespace khod
