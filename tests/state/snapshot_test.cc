// EqualButCaptureTime: what lets Freeze give Prepare's draft its own time
// instead of encoding (daemon/session.cc): every other field still counts.
#include "state/snapshot.h"

#include <gtest/gtest.h>

#include "tests/support/random_snapshot.h"

namespace khod {
namespace {

TEST(SnapshotTest, EqualButCaptureTimeIgnoresTheTimeAndNothingElse) {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    const Snapshot a = RandomSnapshot(seed);
    Snapshot b = a;
    EXPECT_TRUE(EqualButCaptureTime(a, b));
    b.header.capture_time_ns += 12345;
    EXPECT_TRUE(EqualButCaptureTime(a, b));
    EXPECT_TRUE(EqualButCaptureTime(b, a));
    EXPECT_FALSE(a == b);

    Snapshot c = b;
    c.header.boot_id += "x";
    EXPECT_FALSE(EqualButCaptureTime(a, c));
    c = b;
    c.header.page_size *= 2;
    EXPECT_FALSE(EqualButCaptureTime(a, c));
    c = b;
    c.vms.push_back(Vm{});
    EXPECT_FALSE(EqualButCaptureTime(a, c));
    if (a.gmems.empty()) continue;
    c = b;
    c.gmems[0].name += "x";
    EXPECT_FALSE(EqualButCaptureTime(a, c));
    c = b;
    const uint64_t end = c.gmems[0].folios.empty() ? 0 : c.gmems[0].folios.back().end_index();
    c.gmems[0].folios.push_back({end + 1000, 7, 1, 0, 0});
    EXPECT_FALSE(EqualButCaptureTime(a, c));
    // A list of the same extents in an array of its own is still equal.
    c = b;
    c.gmems[0].folios =
        FolioList(FolioList::Extents(a.gmems[0].folios.begin(), a.gmems[0].folios.end()));
    if (!a.gmems[0].folios.empty()) {
      EXPECT_FALSE(c.gmems[0].folios.SharesArrayWith(a.gmems[0].folios));
    }
    EXPECT_TRUE(EqualButCaptureTime(a, c));
  }
}

}  // namespace
}  // namespace khod
