// BuddyScanner::PrefaultBuffers (capture/buddy_scan.h): a warm-up for a
// capture that scans the whole file makes room for its share, which grows
// with the file up to the cap; and which warm-ups make it at all.
#include <gtest/gtest.h>

#include "capture/buddy_scan.h"
#include "capture/kernel_source.h"

namespace khod {
namespace {

constexpr uint64_t kGiB = (uint64_t{1} << 30) / 4096;  // pages

TEST(BuddyScanPrefaultTest, AWholeFileWarmUpMakesRoomForItsShareOfTheFile) {
  BuddyScanner a, b, c;
  const size_t small = a.PrefaultBuffers(4 * kGiB, 2);
  const size_t large = b.PrefaultBuffers(32 * kGiB, 2);
  const size_t capped = c.PrefaultBuffers(1024 * kGiB, 2);
  EXPECT_GT(small, 0u);
  EXPECT_GT(large, small);
  EXPECT_LE(capped, 2 * 2 * (size_t{32} << 20));  // two lists a thread, 32 MiB each at most
}

// Verify waits for the warm-up: only a capture that scans every page gets
// its buffers faulted in ahead. guest_memfd, and shmem a previous khod's
// pins hold, take the change scan, which touches buffers only for what
// changed: megabytes faulted in for it were the largest part of a new
// khod's Verify of an unchanged guest.
TEST(BuddyScanPrefaultTest, OnlyAWholeFileCaptureHasItsBuffersFaultedInAhead) {
  EXPECT_TRUE(WarmUpPrefaultsScanBuffers(FileKind::kShmemMemfd, false));
  EXPECT_FALSE(WarmUpPrefaultsScanBuffers(FileKind::kShmemMemfd, true));
  EXPECT_FALSE(WarmUpPrefaultsScanBuffers(FileKind::kGuestMemfd, false));
  EXPECT_FALSE(WarmUpPrefaultsScanBuffers(FileKind::kGuestMemfd, true));
  EXPECT_FALSE(WarmUpPrefaultsScanBuffers(FileKind::kHugetlbMemfd, false));
}

}  // namespace
}  // namespace khod
