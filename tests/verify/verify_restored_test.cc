// verify/verify_restored.h: a kernel file Restore made anew is never left to
// pass as the file carried across where no capture sees its pages.
#include "verify/verify_restored.h"

#include <gtest/gtest.h>

#include <string>

#include "restore/policy_restore.h"
#include "verify/verdict.h"

namespace khod {
namespace {

// A guest_memfd made without MMAP: nothing per page is visible.
Snapshot Invisible() {
  GuestMemfd g;
  g.token = 7;
  g.name = "confidential";
  g.kind = FileKind::kGuestMemfd;
  g.size = 64 * 4096;
  g.flags = 0;
  g.flags_known = 1;  // MMAP seen unset
  g.visibility.push_back(VisibilityRange{0, 64, PageVisibility::kNone});
  Snapshot s;
  s.header.page_size = 4096;
  s.gmems.push_back(g);
  return s;
}

bool HasKind(const SnapshotDiff& d, UnverifiedKind k) {
  for (const UnverifiedGmem& u : d.unverified)
    for (UnverifiedKind x : u.kinds)
      if (x == k) return true;
  return false;
}

TEST(VerifyRestoredTest, AFileRebuiltWhosePagesNoCaptureSeesIsNamedRebuilt) {
  const Snapshot frozen = Invisible(), now = Invisible();
  // Carried across: its pages invisible, as they were.
  RestoreVerdict kept = VerifyRestored(frozen, now);
  EXPECT_EQ(VerdictOf(kept.diff), Verdict::kNotVerified);
  EXPECT_TRUE(HasKind(kept.diff, UnverifiedKind::kPagesInvisible));
  EXPECT_FALSE(HasKind(kept.diff, UnverifiedKind::kRebuiltMemory));
  // Made anew: the same comparison, and the part that says the memory is new.
  RestoreVerdict rebuilt = VerifyRestored(frozen, now, true, {7});
  EXPECT_EQ(VerdictOf(rebuilt.diff), Verdict::kNotVerified);
  ASSERT_TRUE(HasKind(rebuilt.diff, UnverifiedKind::kRebuiltMemory));
  const std::string text = rebuilt.diff.unverified[0].ToString();
  EXPECT_NE(text.find("64 pages rebuilt as new memory"), std::string::npos) << text;
  // A rebuilt file whose pages are seen is compared: nothing more is named.
  Snapshot seen = Invisible();
  seen.gmems[0].visibility = {VisibilityRange{0, 64, PageVisibility::kFull}};
  EXPECT_FALSE(HasKind(VerifyRestored(seen, seen, true, {7}).diff, UnverifiedKind::kRebuiltMemory));
}

// A frozen blob of format 1.0 has no visibility list: it decodes as every
// page observed in full. Rebuilt, the file's restored capture sees nothing
// per page: the rebuilt memory is named all the same.
TEST(VerifyRestoredTest, ARebuiltFileFrozenInFormat10IsNamedRebuilt) {
  Snapshot frozen = Invisible();
  frozen.gmems[0].visibility.clear();   // 1.0: one kFull range
  frozen.gmems[0].flags_known = ~0ull;  // 1.0: all bits known
  const Snapshot now = Invisible();
  const RestoreVerdict v = VerifyRestored(frozen, now, true, {7});
  EXPECT_EQ(VerdictOf(v.diff), Verdict::kNotVerified);
  EXPECT_TRUE(HasKind(v.diff, UnverifiedKind::kPagesInvisible));
  ASSERT_TRUE(HasKind(v.diff, UnverifiedKind::kRebuiltMemory));
  EXPECT_NE(v.diff.unverified[0].ToString().find("64 pages rebuilt as new memory"),
            std::string::npos)
      << v.diff.unverified[0].ToString();
  // Not rebuilt: nothing more named.
  EXPECT_FALSE(HasKind(VerifyRestored(frozen, now).diff, UnverifiedKind::kRebuiltMemory));
}

// The invariants' differences are counted with the diff's, past a list cut
// at its limit too: the cut entry is last and says how many in all.
TEST(VerifyRestoredTest, ACutListCountsEveryDifference) {
  Snapshot frozen = Invisible();
  GuestMemfd& g = frozen.gmems[0];
  g.kind = FileKind::kShmemMemfd;
  g.flags_known = ~0ull;
  g.size = 6000 * 4096;
  g.visibility = {VisibilityRange{0, 6000, PageVisibility::kFull}};
  g.folios = FolioList({FolioExtent{0, 1000, 6000, 0, kFolioUptodate}});
  Snapshot now = frozen;
  now.gmems[0].folios.clear();
  for (uint64_t i = 0; i < 6000; i += 2)
    now.gmems[0].folios.push_back(FolioExtent{i, 1000 + i, 1, 0, kFolioUptodate});
  // A buddy-backed file with an hstate order: a difference, and an invariant broken.
  now.gmems[0].hstate_order = 9;
  const RestoreVerdict v = VerifyRestored(frozen, now);
  ASSERT_EQ(v.diff.differences.size(), 1001u);
  EXPECT_EQ(v.diff.difference_count(), 3002u);
  EXPECT_EQ(v.diff.differences.back().ToString(),
            "(list cut): expected 1000 shown, found 3002 differences in all");
}

// VMM mapping policies past what Restore hands to the VMM are handed to no
// one: named with a kind of their own, not as handed to the VMM.
TEST(VerifyRestoredTest, PoliciesPastWhatRestoreHandsOnAreNamedNotHandedOn) {
  Snapshot s = Invisible();
  GuestMemfd& g = s.gmems[0];
  g.visibility = {VisibilityRange{0, 64, PageVisibility::kFull}};
  g.policy_source = PolicySource::kVmmMappings;
  const size_t ranges = kMaxRangesForVmm + 3;  // alternating policies: none merge
  g.size = ranges * 4096;
  g.visibility[0].count = ranges;
  for (size_t i = 0; i < ranges; ++i) {
    MappingPolicy m;
    m.first_index = i;
    m.count = 1;
    m.policy.mode = i % 2 ? 2 : 1;  // MPOL_BIND, MPOL_PREFERRED
    m.policy.nodemask = {1};
    g.mapping_policies.push_back(m);
  }
  RestoreVerdict v = VerifyRestored(s, s);
  ASSERT_TRUE(HasKind(v.diff, UnverifiedKind::kNumaPolicyNotHandedOn));
  EXPECT_TRUE(HasKind(v.diff, UnverifiedKind::kNumaPolicyHandedToVmm));
  EXPECT_NE(v.diff.unverified[0].ToString().find("NUMA policy of 3 merged VMM mapping range(s) "
                                                 "past the first 4096 Restore hands on"),
            std::string::npos)
      << v.diff.unverified[0].ToString();
  // Within the bound, all of it is handed on.
  g.mapping_policies.resize(kMaxRangesForVmm);
  EXPECT_FALSE(HasKind(VerifyRestored(s, s).diff, UnverifiedKind::kNumaPolicyNotHandedOn));
}

}  // namespace
}  // namespace khod
