// The state directory's blob names: the one BlobName makes is the only kind a
// record may name (recovery and Cancel delete what it names).
#include "daemon/blob_names.h"

#include <gtest/gtest.h>

namespace khod {
namespace {

TEST(BlobNamesTest, ARecordNamesOnlyTheBlobsKhodMakes) {
  EXPECT_EQ(BlobName("prepared", 12), "prepared-12.blob");
  for (uint64_t g : {uint64_t{0}, uint64_t{7}, UINT64_MAX})
    for (const char* kind : {"prepared", "frozen"})
      EXPECT_TRUE(IsBlobNameOrNone(BlobName(kind, g), kind)) << BlobName(kind, g);
  EXPECT_TRUE(IsBlobNameOrNone("", "frozen"));
  for (const char* other : {"khod.lock", "session.rec", "frozen-3.blob", "prepared-.blob",
                            "prepared-1x.blob", "prepared-1.blob.tmp", "../prepared-1.blob",
                            "prepared-draft.blob", "prepared-1", "-1.blob"})
    EXPECT_FALSE(IsBlobNameOrNone(other, "prepared")) << other;
  EXPECT_FALSE(IsBlobNameOrNone("frozen-draft.blob", "frozen"));  // Prepare's draft: never named
}

// The start-up sweep removes only these names (daemon/leftover_sweep.h).
TEST(BlobNamesTest, TheSweepKnowsExactlyTheNamesKhodWrites) {
  for (const char* ours : {"prepared-1.blob", "frozen-42.blob", "frozen-draft.blob"})
    EXPECT_TRUE(IsSessionBlobName(ours)) << ours;
  for (const char* other :
       {"", "frozen-backup.blob", "prepared-.blob", "frozen-1.blob.tmp", "prepared-draft.blob",
        "session.rec", "handover.blob", "frozen-1x.blob"})
    EXPECT_FALSE(IsSessionBlobName(other)) << other;
}

}  // namespace
}  // namespace khod
