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
