// MODEL guests of 1 to 12 TiB: capture (through GmemSource) -> encode in both
// blob formats -> decode -> restore into a fresh model kernel -> capture, and
// the two captures must be equal, with the model's memory following extents
// and ranges, not guest size.
#include <gtest/gtest.h>

#include <random>

#include "model/model_invariants.h"
#include "model/model_source.h"
#include "serializer/serializer.h"

namespace khod {
namespace {

constexpr uint64_t kTiB = uint64_t{1} << 40;

struct RoundTripCase {
  const char* name;
  uint64_t size;
  Backing backing;
  uint8_t hstate_order;
  int conversions;
};

class ModelRoundTripTest : public ::testing::TestWithParam<RoundTripCase> {};

TEST_P(ModelRoundTripTest, CaptureRestoreCaptureIsEqual) {
  const RoundTripCase c = GetParam();
  ModelKernel kernel;
  ModelGmemOptions o;
  o.token = 0x2a;
  o.name = c.name;
  o.size = c.size;
  o.backing = c.backing;
  o.hstate_order = c.hstate_order;
  o.vm_token = 7;
  auto created = ModelGuestMemfd::Create(&kernel, o);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  ModelGuestMemfd& m = **created;
  std::mt19937_64 rng(42);
  const uint64_t pages = m.pages();
  for (int i = 0; i < c.conversions; ++i) {
    const uint64_t first = rng() % pages;
    const uint64_t count = 1 + rng() % std::min<uint64_t>(1 << 20, pages - first);
    ASSERT_TRUE(m.Convert(first, count, rng() & 1).ok());
  }
  if (c.conversions > 0) {
    ASSERT_TRUE(m.Poison(pages / 3).ok());
  }
  Mempolicy policy;
  policy.mode = 3;
  policy.nodemask = {1};
  m.set_mempolicy(policy);
  // Memory follows extents and ranges: a handful for a uniform guest.
  EXPECT_LE(m.filemap().extent_count(), 4u * c.conversions + 8);
  EXPECT_LE(m.attributes().range_count(), 2u * c.conversions + 2);

  ModelSource source(&m);
  EXPECT_EQ(source.Describe().rfind("MODEL ", 0), 0u);
  Snapshot snap;
  snap.header.producer = "model_roundtrip_test";
  snap.vms.push_back(Vm{7, 0, {}});
  snap.gmems.emplace_back();
  ASSERT_TRUE(source.Capture(CaptureOptions(), &snap.gmems[0]).ok());
  ASSERT_TRUE(CheckModelGmem(m).empty());
  ASSERT_TRUE(InvariantsStatus(snap).ok()) << InvariantsStatus(snap).ToString();

  for (BlobFormat format : {BlobFormat::kFdt, BlobFormat::kProto}) {
    SCOPED_TRACE(BlobFormatName(format));
    std::string blob;
    ASSERT_TRUE(Encode(snap, format, &blob).ok());
    Snapshot decoded;
    Status s = DecodeAny(blob, &decoded);
    ASSERT_TRUE(s.ok()) << s.ToString();
    ASSERT_TRUE(decoded == snap);

    ModelKernel next_kernel;  // "after kexec": same pools, nothing allocated
    auto restored = RestoreModel(&next_kernel, decoded.gmems[0]);
    ASSERT_TRUE(restored.ok()) << restored.status().ToString();
    EXPECT_TRUE(CheckModelGmem(**restored).empty());
    GuestMemfd again;
    ModelSource restored_source(restored->get());
    ASSERT_TRUE(restored_source.Capture(CaptureOptions(), &again).ok());
    EXPECT_TRUE(again == snap.gmems[0]);
    EXPECT_EQ(again.folios, snap.gmems[0].folios);
    EXPECT_EQ(again.restructures, snap.gmems[0].restructures);
    EXPECT_TRUE(again.attributes == snap.gmems[0].attributes);
    // Restoring twice into one kernel must fail: the PFNs are taken.
    EXPECT_EQ(RestoreModel(&next_kernel, decoded.gmems[0]).status().code(),
              Status::Code::kFailedPrecondition);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Sizes, ModelRoundTripTest,
    ::testing::Values(RoundTripCase{"uniform-12T-1G", 12 * kTiB, Backing::kHugetlb, 18, 0},
                      RoundTripCase{"converted-12T-1G", 12 * kTiB, Backing::kHugetlb, 18, 300},
                      RoundTripCase{"converted-12T-2M", 12 * kTiB, Backing::kHugetlb, 9, 300},
                      RoundTripCase{"converted-12T-buddy", 12 * kTiB, Backing::kBuddy, 0, 300},
                      RoundTripCase{"converted-1T-1G", 1 * kTiB, Backing::kHugetlb, 18, 2000}));

TEST(ModelRestoreTest, RefusesSnapshotBreakingInvariants) {
  ModelKernel kernel;
  ModelGmemOptions o;
  o.size = uint64_t{4} << 21;
  o.backing = Backing::kHugetlb;
  o.hstate_order = 9;
  auto m = ModelGuestMemfd::Create(&kernel, o);
  ASSERT_TRUE(m.ok());
  GuestMemfd g;
  (*m)->Fill(&g);
  g.attributes.Set(3, 1, kAttrPrivate);  // mixed huge folio, not split
  ModelKernel other;
  EXPECT_EQ(RestoreModel(&other, g).status().code(), Status::Code::kCorruption);
}

TEST(ModelRestoreTest, InProgressRestructureAndPoisonSurvive) {
  ModelKernel kernel;
  ModelGmemOptions o;
  o.size = uint64_t{2} << 21;
  o.backing = Backing::kHugetlb;
  o.hstate_order = 9;
  auto m = ModelGuestMemfd::Create(&kernel, o);
  ASSERT_TRUE(m.ok());
  GuestMemfd mid;
  kernel.set_restructure_hook([&](const RestructureRecord&) {
    ASSERT_TRUE((*m)->Poison(9).ok());
    (*m)->Fill(&mid);  // captured while the split is under way
  });
  ASSERT_TRUE((*m)->Convert(1, 1, true).ok());
  ASSERT_EQ(mid.restructures.size(), 1u);
  EXPECT_TRUE(mid.restructures[0].in_progress);
  ModelKernel next;
  auto r = RestoreModel(&next, mid);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  GuestMemfd again;
  (*r)->Fill(&again);
  EXPECT_TRUE(again == mid);
}

}  // namespace
}  // namespace khod
