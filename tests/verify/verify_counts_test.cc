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

// How the VMMs' NUMA policies were read is said: through numa_maps, the
// capture walked every page the VMM maps (a blackout that grows with it).
TEST(VerifyCountsText, SaysHowTheVmmPoliciesWereRead) {
  EXPECT_EQ(VmmPolicyReadsText(0, 0), "");
  EXPECT_EQ(VmmPolicyReadsText(1, 0), "; VMM NUMA policies: 1 process read from their VMAs");
  EXPECT_EQ(VmmPolicyReadsText(0, 2),
            "; VMM NUMA policies: 2 processes read through numa_maps, a walk of every page "
            "mapped");
  EXPECT_EQ(VmmPolicyReadsText(24, 1),
            "; VMM NUMA policies: 24 processes read from their VMAs, 1 through numa_maps, a "
            "walk of every page mapped");
  VerifyCounts c;
  c.real_pages = c.real_pfns = 10;
  c.real_kinds = "guest_memfd";
  c.vmm_policies_from_vmas = 24;
  c.vmm_policies_from_numa_maps = 1;
  EXPECT_EQ(VerifyCountsText(c, true),
            "10 real PFNs (guest_memfd) and 0 content hashes unchanged; VMM NUMA policies: 24 "
            "processes read from their VMAs, 1 through numa_maps, a walk of every page mapped");
  // The reply carries both, and khoctl says them again from it.
  v1::VerifyReply v;
  FillVerifyReply(SnapshotDiff(), c, &v);
  EXPECT_EQ(v.vmm_policies_from_vmas(), 24u);
  EXPECT_EQ(v.vmm_policies_from_numa_maps(), 1u);
  EXPECT_NE(FormatVerify(v).find("1 through numa_maps"), std::string::npos) << FormatVerify(v);
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
            "  gmem 0x1 'ram0': folios page 0: expected resident, found hole\n");
}

// `equal` is the EQUAL verdict; a reply without it is DIFFERENT only where it
// lists a difference, or names nothing unverified. An older khod's `equal`
// ("no difference") beside parts not verified still reads NOT VERIFIED.
TEST(Verdict, EqualIsTheEqualVerdictAndOlderRepliesReadTheSame) {
  v1::VerifyReply not_verified;
  not_verified.add_unverified()->set_token(2);
  EXPECT_EQ(VerdictOf(not_verified), Verdict::kNotVerified);
  v1::VerifyReply older = not_verified;
  older.set_equal(true);
  EXPECT_EQ(VerdictOf(older), Verdict::kNotVerified);
  v1::VerifyReply different = not_verified;
  different.add_differences()->set_field("size");
  EXPECT_EQ(VerdictOf(different), Verdict::kDifferent);
  v1::VerifyReply equal;
  equal.set_equal(true);
  EXPECT_EQ(VerdictOf(equal), Verdict::kEqual);
  EXPECT_EQ(VerdictOf(v1::VerifyReply()), Verdict::kDifferent) << "not equal, and no part named";
  v1::VerifyReply filled;
  FillVerifyReply(SnapshotDiff(), VerifyCounts(), &filled);
  EXPECT_TRUE(filled.equal());
  EXPECT_EQ(filled.verdict(), "EQUAL");
  // The verdict named wins over what the rest would say; an unknown name does not.
  v1::VerifyReply named = not_verified;
  named.set_verdict("DIFFERENT");
  EXPECT_EQ(VerdictOf(named), Verdict::kDifferent);
  named.set_verdict("SOMETHING NEW");
  EXPECT_EQ(VerdictOf(named), Verdict::kNotVerified);
}

// A list cut at its limit: the reply lists 1000 differences and the cut,
// and its count is of every difference (what khod_verify_differences shows).
TEST(Verdict, AReplysDifferenceCountIsOfEveryDifferenceNotItsEntries) {
  GuestMemfd a;
  a.token = 1;
  a.name = "ram0";
  a.kind = FileKind::kShmemMemfd;
  a.size = 6000 * 4096;
  a.folios.push_back(FolioExtent{0, 1000, 6000, 0, kFolioUptodate});
  GuestMemfd b = a;
  b.folios.clear();
  for (uint64_t i = 0; i < 6000; i += 2) b.folios.push_back(FolioExtent{i, 1000 + i, 1, 0, 1});
  Snapshot sa, sb;
  sa.gmems = {a};
  sb.gmems = {b};
  v1::VerifyReply v;
  FillVerifyReply(DiffSnapshots(sa, sb), CountCompared(sa, sb), &v);
  EXPECT_EQ(v.differences_size(), 1001);
  EXPECT_EQ(v.differences_found(), 3000u);
  EXPECT_EQ(DifferenceCount(v), 3000u);
  // From a khod before differences_found: read from the cut entry.
  v.clear_differences_found();
  EXPECT_EQ(DifferenceCount(v), 3000u);
  EXPECT_EQ(v.verdict(), "DIFFERENT");
  // Not cut: its entries.
  v.Clear();
  sb.gmems[0].folios = FolioList({FolioExtent{0, 1000, 10, 0, kFolioUptodate}});
  FillVerifyReply(DiffSnapshots(sa, sb), CountCompared(sa, sb), &v);
  EXPECT_EQ(DifferenceCount(v), static_cast<uint64_t>(v.differences_size()));
  EXPECT_EQ(DifferenceCount(v), 1u);
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
  shm.hashes = {ContentHash{0, 32, 0x5a}};
  GuestMemfd priv;
  priv.token = 2;
  priv.name = "gmem_private";
  priv.size = 16 * 4096;
  priv.flags_known = 1;
  priv.visibility = {VisibilityRange{0, 16, PageVisibility::kNone}};
  s.gmems = {shm, priv};
  const SnapshotDiff d = DiffSnapshots(s, s);
  const VerifyCounts c = CountCompared(s, s);
  v1::VerifyReply v;
  FillVerifyReply(d, c, &v);
  EXPECT_EQ(v.differences_size(), 0);      // no difference...
  EXPECT_EQ(v.verdict(), "NOT VERIFIED");  // ...but not all of it was seen
  EXPECT_FALSE(v.equal()) << "memory khod could not see is never called equal";
  EXPECT_EQ(VerdictExitCode(VerdictOf(v)), 3);
  EXPECT_EQ(v.pages_equal(), 32u);
  EXPECT_EQ(v.pages_unverified(), 16u);
  ASSERT_EQ(v.unverified_size(), 1);
  EXPECT_EQ(v.unverified(0).token(), 2u);
  EXPECT_EQ(v.unverified(0).pages(), 16u);
  // Each part's kind goes with it, by name in JSON, and comes back.
  ASSERT_EQ(v.unverified(0).kinds_size(), 1);
  EXPECT_EQ(v.unverified(0).kinds(0), v1::UNVERIFIED_PAGES_INVISIBLE);
  EXPECT_EQ(UnverifiedOf(v)[0].kinds, d.unverified[0].kinds);
  // A reply from a khod older than kinds, or naming a kind this one does not
  // know, reads as unspecified: one kind per part all the same.
  v1::VerifyReply older = v;
  older.mutable_unverified(0)->clear_kinds();
  EXPECT_EQ(UnverifiedOf(older)[0].kinds,
            std::vector<UnverifiedKind>{UnverifiedKind::kUnspecified});
  older.mutable_unverified(0)->add_kinds(static_cast<v1::UnverifiedKind>(99));
  EXPECT_EQ(UnverifiedOf(older)[0].kinds,
            std::vector<UnverifiedKind>{UnverifiedKind::kUnspecified});
  const std::string unverified =
      "gmem 0x2 'gmem_private': 16 pages: no per-page state visible to the host (guest_memfd "
      "created without MMAP)";
  EXPECT_EQ(FormatVerify(v),
            "NOT VERIFIED: no difference where observable; 32 real PFNs (shmem-memfd) and 1 "
            "content hashes unchanged\n"
            "  pages: 32 equal, 0 different, 16 not verified\n"
            "  not verified: " +
                unverified + "\n");
  EXPECT_EQ(VerdictLine(d, c),
            "no difference where observable (32 real PFNs (shmem-memfd) and 1 content hashes "
            "unchanged); not verified: " +
                unverified);
  // Only memory nobody can see: real, never "no real memory".
  Snapshot only_private;
  only_private.gmems = {priv};
  EXPECT_EQ(VerdictLine(DiffSnapshots(only_private, only_private),
                        CountCompared(only_private, only_private)),
            "no difference where observable (no real memory observed in full (guest_memfd)); "
            "not verified: " +
                unverified);

  // Everything observed and equal: the only exit 0.
  s.gmems.pop_back();
  v.Clear();
  FillVerifyReply(DiffSnapshots(s, s), CountCompared(s, s), &v);
  EXPECT_EQ(v.verdict(), "EQUAL");
  EXPECT_EQ(VerdictExitCode(VerdictOf(v)), 0);
}

// A shmem memfd of 32 resident pages captured by root: PFNs known, observed
// in full (a kernel capture fills its visibility), one hash per 8 pages.
GuestMemfd RootCapturedMemfd() {
  GuestMemfd g;
  g.token = 1;
  g.name = "ram0";
  g.kind = FileKind::kShmemMemfd;
  g.size = 32 * 4096;
  g.visibility = {VisibilityRange{0, 32, PageVisibility::kFull}};
  g.folios.push_back(FolioExtent{0, 1000, 32, 0, kFolioUptodate});
  for (uint64_t i = 0; i < 4; ++i) g.hashes.push_back(ContentHash{i * 8, 8, 0x100 + i});
  return g;
}

Snapshot Of(const GuestMemfd& g) {
  Snapshot s;
  s.gmems = {g};
  return s;
}

// khoctl verify run without CAP_SYS_ADMIN against a snapshot root captured:
// pagemap hides every PFN now (folio flags, read by PFN, unread). The pages
// and their contents were compared, their PFNs never: not one PFN is claimed.
TEST(CountCompared, PfnsTheFoundSideDidNotSeeAreNotCounted) {
  const Snapshot expected = Of(RootCapturedMemfd());
  GuestMemfd now = RootCapturedMemfd();
  now.folios = {FolioExtent{0, kPfnUnknown, 32, 0, 0}};
  const Snapshot found = Of(now);
  const SnapshotDiff d = DiffSnapshots(expected, found);
  const VerifyCounts c = CountCompared(expected, found);
  EXPECT_EQ(c.real_pages, 32u);
  EXPECT_EQ(c.real_pfns, 0u);
  EXPECT_EQ(c.real_hashes, 4u);
  EXPECT_EQ(c.real_kinds, "shmem-memfd");
  v1::VerifyReply v;
  FillVerifyReply(d, c, &v);
  EXPECT_EQ(v.verdict(), "NOT VERIFIED");
  EXPECT_EQ(v.real_pfns_compared(), 0u);
  EXPECT_EQ(v.pfns_compared(), 0u);
  EXPECT_EQ(v.pages_unverified(), 32u);
  EXPECT_EQ(FormatVerify(v).substr(0, FormatVerify(v).find('\n')),
            "NOT VERIFIED: no difference where observable; 32 real pages (shmem-memfd), 0 of "
            "them with a known PFN, and 4 content hashes unchanged");
  // The same where the found side saw the PFNs of half of them only.
  now.folios = {FolioExtent{0, 1000, 16, 0, kFolioUptodate},
                FolioExtent{16, kPfnUnknown, 16, 0, 0}};
  const VerifyCounts half = CountCompared(expected, Of(now));
  EXPECT_EQ(half.real_pages, 32u);
  EXPECT_EQ(half.real_pfns, 16u);
}

// The live side saw less than the snapshot: nothing per page of [16, 32)
// (kNone), and only which of [8, 16) are initialized (kInitializedOnly).
// Neither range's pages, PFNs or the hashes over them were compared.
TEST(CountCompared, PagesEitherSideDidNotObserveInFullAreNotCounted) {
  const Snapshot expected = Of(RootCapturedMemfd());
  GuestMemfd now = RootCapturedMemfd();
  now.visibility = {VisibilityRange{0, 16, PageVisibility::kFull},
                    VisibilityRange{16, 16, PageVisibility::kNone}};
  now.folios = {FolioExtent{0, 1000, 16, 0, kFolioUptodate}};
  now.hashes.resize(2);
  Snapshot found = Of(now);
  SnapshotDiff d = DiffSnapshots(expected, found);
  ASSERT_TRUE(d.equal()) << d.differences.front().ToString();
  EXPECT_EQ(d.counts.pages_unverified, 16u);
  VerifyCounts c = CountCompared(expected, found);
  EXPECT_EQ(c.real_pages, 16u);
  EXPECT_EQ(c.real_pfns, 16u);
  EXPECT_EQ(c.real_hashes, 2u);
  EXPECT_EQ(VerdictLine(d, c).substr(0, VerdictLine(d, c).find(';')),
            "no difference where observable (16 real PFNs (shmem-memfd) and 2 content hashes "
            "unchanged)");

  now.visibility = {VisibilityRange{0, 8, PageVisibility::kFull},
                    VisibilityRange{8, 8, PageVisibility::kInitializedOnly},
                    VisibilityRange{16, 16, PageVisibility::kNone}};
  now.folios = {FolioExtent{0, 1000, 8, 0, kFolioUptodate}, FolioExtent{8, kPfnUnknown, 8, 0, 0}};
  now.hashes.resize(1);
  found = Of(now);
  d = DiffSnapshots(expected, found);
  ASSERT_TRUE(d.equal()) << d.differences.front().ToString();
  EXPECT_EQ(d.counts.pages_unverified, 24u);
  c = CountCompared(expected, found);
  EXPECT_EQ(c.real_pages, 8u);
  EXPECT_EQ(c.real_pfns, 8u);
  EXPECT_EQ(c.real_hashes, 1u);

  // Nothing per page seen at all: no page of it counted, its kind named as
  // not observed in full, never "no real memory".
  now.visibility = {VisibilityRange{0, 32, PageVisibility::kNone}};
  now.folios.clear();
  now.hashes.clear();
  c = CountCompared(expected, Of(now));
  EXPECT_EQ(c.real_pages, 0u);
  EXPECT_EQ(c.real_hashes, 0u);
  EXPECT_EQ(c.real_kinds, "");
  EXPECT_EQ(c.real_unobserved_kinds, "shmem-memfd");
}

// A capture without CAP_SYS_ADMIN sees no PFN, so it joins pages across a
// physical break into one extent and hashes it once; root's capture holds
// two extents, two hashes. No hash of one lies over a range the other
// hashed: no content hash was compared, whichever side is expected.
TEST(CountCompared, HashesOverRangesCutOtherwiseAreNotCompared) {
  GuestMemfd root = RootCapturedMemfd();
  root.folios = {FolioExtent{0, 1000, 16, 0, kFolioUptodate},
                 FolioExtent{16, 5000, 16, 0, kFolioUptodate}};
  root.hashes = {ContentHash{0, 16, 0x100}, ContentHash{16, 16, 0x101}};
  GuestMemfd non_root = root;
  non_root.folios = {FolioExtent{0, kPfnUnknown, 32, 0, 0}};
  non_root.hashes = {ContentHash{0, 32, 0x102}};
  for (const auto& [e, f] : {std::pair(non_root, root), std::pair(root, non_root)}) {
    const Snapshot expected = Of(e), found = Of(f);
    const VerifyCounts c = CountCompared(expected, found);
    EXPECT_EQ(c.real_hashes, 0u);
    EXPECT_EQ(c.real_pages, 32u);
    EXPECT_EQ(c.real_pfns, 0u);
    const std::string line = VerdictLine(DiffSnapshots(expected, found), c);
    EXPECT_NE(line.find("and 0 content hashes unchanged"), std::string::npos) << line;
  }
  // Hashed over the same ranges, each pair is compared.
  non_root.hashes = root.hashes;
  EXPECT_EQ(CountCompared(Of(non_root), Of(root)).real_hashes, 2u);
  // One range in common of two.
  non_root.hashes = {ContentHash{0, 16, 0x100}, ContentHash{16, 8, 0x103},
                     ContentHash{24, 8, 0x104}};
  EXPECT_EQ(CountCompared(Of(non_root), Of(root)).real_hashes, 1u);
  EXPECT_EQ(CountCompared(Of(root), Of(non_root)).real_hashes, 1u);
}

// Both sides observed every page in full and saw every PFN (the daemon's
// Verify in the blackout): the lists' own sums, as before. What one side
// lacks is still not counted: hashes the found side did not take, a gmem
// only one side holds.
TEST(CountCompared, BothSeeingEverythingCountsTheListsSums) {
  GuestMemfd model;
  model.token = 2;
  model.name = "model";
  model.provenance = Provenance::kModel;
  model.size = 64 * 4096;
  model.folios.push_back(FolioExtent{0, 5000, 64, 0, kFolioUptodate});
  Snapshot expected = Of(RootCapturedMemfd());
  expected.gmems.push_back(model);
  VerifyCounts c = CountCompared(expected, expected);
  EXPECT_EQ(c.real_pages, 32u);
  EXPECT_EQ(c.real_pfns, 32u);
  EXPECT_EQ(c.real_hashes, 4u);
  EXPECT_EQ(c.real_kinds, "shmem-memfd");
  EXPECT_EQ(c.model_pages, 64u);

  // Hashes the found side did not take were not compared.
  Snapshot found = expected;
  found.gmems[0].hashes.clear();
  c = CountCompared(expected, found);
  EXPECT_EQ(c.real_pages, 32u);
  EXPECT_EQ(c.real_pfns, 32u);
  EXPECT_EQ(c.real_hashes, 0u);
  // A gmem the found side does not hold: a difference, nothing of it compared.
  found = expected;
  found.gmems.pop_back();
  c = CountCompared(expected, found);
  EXPECT_EQ(c.real_pages, 32u);
  EXPECT_EQ(c.model_pages, 0u);
}

}  // namespace
}  // namespace khod
