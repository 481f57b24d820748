// BuddyScanner::PrefaultBuffers (capture/buddy_scan.h): a warm-up for a
// capture expected to scan only what changed makes the same room whatever
// the file's size (a new khod's Verify of memory that cannot move, or that
// pins hold, needs no lists sized by pages); one expected to scan the whole
// file makes room for its share, which grows with it up to the cap.
#include <gtest/gtest.h>

#include "capture/buddy_scan.h"

namespace khod {
namespace {

constexpr uint64_t kGiB = (uint64_t{1} << 30) / 4096;  // pages

TEST(BuddyScanPrefaultTest, AChangeScanWarmUpMakesTheSameRoomWhateverTheFileSize) {
  BuddyScanner a, b;
  const size_t small = a.PrefaultBuffers(4 * kGiB, 2, BuddyScanner::ExpectedScan::kChanges);
  const size_t large = b.PrefaultBuffers(32 * kGiB, 2, BuddyScanner::ExpectedScan::kChanges);
  EXPECT_GT(small, 0u);
  EXPECT_EQ(small, large);
}

TEST(BuddyScanPrefaultTest, AWholeFileWarmUpMakesRoomForItsShareOfTheFile) {
  BuddyScanner a, b, c;
  const size_t small = a.PrefaultBuffers(4 * kGiB, 2, BuddyScanner::ExpectedScan::kWholeFile);
  const size_t large = b.PrefaultBuffers(32 * kGiB, 2, BuddyScanner::ExpectedScan::kWholeFile);
  const size_t changes = c.PrefaultBuffers(32 * kGiB, 2, BuddyScanner::ExpectedScan::kChanges);
  EXPECT_GT(large, small);
  EXPECT_GT(large, changes);
}

}  // namespace
}  // namespace khod
