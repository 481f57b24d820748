// How a verify's counts are said (verify/verify_counts.h) and how khoctl
// shows a VerifyReply: real PFNs and MODEL pages never in one number.
#include <gtest/gtest.h>

#include "khoctl/status_report.h"
#include "verify/verify_counts.h"

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
  EXPECT_EQ(VerifyCountsText(real, true),
            "10 real pages (shmem-memfd), 8 of them with a known PFN, and 0 content hashes unchanged");
  real.real_pfns = 10;
  real.real_flags_carried = 7;
  EXPECT_EQ(VerifyCountsText(real, true),
            "10 real PFNs (shmem-memfd) and 0 content hashes unchanged (folio flags of 7 pages "
            "carried from Freeze, mapped at the same PFN since)");
  VerifyCounts model;
  model.model_pages = 4;
  model.model_hashes = 1;
  EXPECT_EQ(VerifyCountsText(model, true), "no real memory; MODEL: 4 pages and 1 content hashes compared");
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
            "DIFFERENT: 32 real PFNs (shmem-memfd) and 0 content hashes compared; MODEL: 16 pages compared\n"
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

}  // namespace
}  // namespace khod
