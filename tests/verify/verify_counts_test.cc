// How a verify's counts are said (verify/verify_counts.h) and how khoctl
// shows a VerifyReply: real PFNs and MODEL pages never in one number.
#include "verify/verify_counts.h"

#include <gtest/gtest.h>

#include "khoctl/status_report.h"
#include "verify/verdict.h"
#include "verify/verify_reply.h"

namespace khod {
namespace {

TEST(VerifyCountsText, RealAndModelApart) {
  VerifyCounts c;
  c.real_pages = 81919;
  c.real_pfns = 81919;
  c.real_hashes = 22853;
  c.real_kinds = "shmem-memfd/hugetlb-memfd";
  c.model_pages = 268435456;
  EXPECT_EQ(VerifyCountsText(c, true),
            "81919 real PFNs (shmem-memfd/hugetlb-memfd) and 22853 content hashes unchanged; "
            "MODEL: 268435456 pages compared");
  EXPECT_EQ(VerifyCountsText(c, false),
            "81919 real PFNs (shmem-memfd/hugetlb-memfd) and 22853 content hashes compared; "
            "MODEL: 268435456 pages compared");
}

TEST(VerifyCountsText, OnlyRealOnlyModelAndUnknownPfns) {
  VerifyCounts real;
  real.real_pages = 10;
  real.real_pfns = 8;
  real.real_kinds = "shmem-memfd";
  EXPECT_EQ(
      VerifyCountsText(real, true),
      "10 real pages (shmem-memfd), 8 of them with a known PFN, and 0 content hashes unchanged");
  real.real_pfns = 10;
  real.real_flags_carried = 7;
  EXPECT_EQ(VerifyCountsText(real, true),
            "10 real PFNs (shmem-memfd) and 0 content hashes unchanged (folio flags of 7 pages "
            "carried from Freeze, mapped at the same PFN since)");
  VerifyCounts model;
  model.model_pages = 4;
  model.model_hashes = 1;
  EXPECT_EQ(VerifyCountsText(model, true),
            "no real memory; MODEL: 4 pages and 1 content hashes compared");
}

TEST(FormatVerify, SplitCountsThenEachDifference) {
  v1::VerifyReply v;
  v.set_equal(false);
  v.set_pages_compared(48);
  v.set_real_pages_compared(32);
  v.set_real_pfns_compared(32);
  v.set_real_kinds("shmem-memfd");
  v.set_model_pages_compared(16);
  auto* d = v.add_differences();
  d->set_token(1);
  d->set_where("ram0");
  d->set_field("folios page 0");
  d->set_expected("resident");
  d->set_found("hole");
  EXPECT_EQ(FormatVerify(v),
            "DIFFERENT: 32 real PFNs (shmem-memfd) and 0 content hashes compared; MODEL: 16 pages "
            "compared\n"
            "  gmem 1 'ram0': folios page 0: expected resident, found hole\n");
}

TEST(FormatVerify, ReplyFromAKhodBeforeTheSplitSaysItsTotalsMix) {
  v1::VerifyReply v;
  v.set_equal(true);
  v.set_pages_compared(100);
  v.set_pfns_compared(100);
  v.set_hashes_compared(3);
  EXPECT_EQ(FormatVerify(v),
            "EQUAL: 100 pages compared, 100 PFNs (real and MODEL together), 3 content hashes\n");
}

// A flags-0 guest_memfd beside a shmem memfd (../shared/notes/gmem-6.18-facts.md:
// nothing per page of it is visible): no difference where observable, exit 3,
// the gmem and its pages named in the text, the JSON and Status's verdict line.
TEST(Verdict, NotVerifiedNamesTheGmemAndPagesEverywhere) {
  Snapshot s;
  GuestMemfd shm;
  shm.token = 1;
  shm.name = "ram0";
  shm.kind = FileKind::kShmemMemfd;
  shm.size = 32 * 4096;
  shm.folios.push_back(FolioExtent{0, 1000, 32, 0, kFolioUptodate});
  GuestMemfd priv;
  priv.token = 2;
  priv.name = "gmem_private";
  priv.size = 16 * 4096;
  priv.flags_known = 1;
  priv.visibility = {VisibilityRange{0, 16, PageVisibility::kNone}};
  s.gmems = {shm, priv};
  const SnapshotDiff d = DiffSnapshots(s, s);
  const VerifyCounts c = CountCompared(s);
  v1::VerifyReply v;
  FillVerifyReply(d, c, &v);
  EXPECT_TRUE(v.equal());                  // no difference...
  EXPECT_EQ(v.verdict(), "NOT VERIFIED");  // ...but not all of it was seen
  EXPECT_EQ(VerdictExitCode(VerdictOf(v)), 3);
  EXPECT_EQ(v.pages_equal(), 32u);
  EXPECT_EQ(v.pages_unverified(), 16u);
  ASSERT_EQ(v.unverified_size(), 1);
  EXPECT_EQ(v.unverified(0).token(), 2u);
  EXPECT_EQ(v.unverified(0).pages(), 16u);
  const std::string unverified =
      "gmem 0x2 'gmem_private': 16 pages: no per-page state visible to the host (guest_memfd "
      "created without MMAP)";
  EXPECT_EQ(FormatVerify(v),
            "NOT VERIFIED: no difference where observable; 32 real PFNs (shmem-memfd) and 0 "
            "content hashes unchanged\n"
            "  pages: 32 equal, 0 different, 16 not verified\n"
            "  not verified: " +
                unverified + "\n");
  EXPECT_EQ(VerdictLine(d, c),
            "no difference where observable (32 real PFNs (shmem-memfd) and 0 content hashes "
            "unchanged); not verified: " +
                unverified);
  // Only memory nobody can see: real, never "no real memory".
  Snapshot only_private;
  only_private.gmems = {priv};
  EXPECT_EQ(VerdictLine(DiffSnapshots(only_private, only_private), CountCompared(only_private)),
            "no difference where observable (no real memory observed in full (guest_memfd)); "
            "not verified: " +
                unverified);

  // Everything observed and equal: the only exit 0.
  s.gmems.pop_back();
  v.Clear();
  FillVerifyReply(DiffSnapshots(s, s), CountCompared(s), &v);
  EXPECT_EQ(v.verdict(), "EQUAL");
  EXPECT_EQ(VerdictExitCode(VerdictOf(v)), 0);
}

}  // namespace
}  // namespace khod
