// state/observation_invariants: each rule of format 1.1's observation fields
// refuses what breaks it, and a kernel capture's shapes pass.
#include "state/observation_invariants.h"

#include <gtest/gtest.h>

namespace khod {
namespace {

constexpr uint32_t kPage = 4096;

GuestMemfd Gmem(uint64_t pages) {
  GuestMemfd g;
  g.token = 7;
  g.size = pages * kPage;
  return g;
}

std::vector<Violation> Check(const GuestMemfd& g) {
  std::vector<Violation> v;
  CheckGmem(g, kPage, &v);
  return v;
}

bool Says(const std::vector<Violation>& v, const std::string& what) {
  for (const Violation& x : v)
    if (x.what.find(what) != std::string::npos) return true;
  return false;
}

TEST(ObservationInvariantsTest, CaptureShapesPass) {
  GuestMemfd none = Gmem(64);  // flags 0: nothing per page
  none.flags_known = 1;
  none.policy_source = PolicySource::kVmmMappings;
  none.visibility = {{0, 64, PageVisibility::kNone}};
  EXPECT_TRUE(Check(none).empty());
  GuestMemfd init = Gmem(64);  // MMAP only
  init.policy_source = PolicySource::kUnknown;
  init.visibility = {{0, 64, PageVisibility::kInitializedOnly}};
  init.folios = {{3, kPfnUnknown, 5, 0, 0}};
  EXPECT_TRUE(Check(init).empty());
  GuestMemfd full = Gmem(64);
  full.visibility = {{0, 32, PageVisibility::kFull}, {32, 32, PageVisibility::kInitializedOnly}};
  full.folios = {{0, 100, 8, 0, kFolioUptodate}, {40, kPfnUnknown, 2, 0, 0}};
  full.hashes = {{0, 8, 1}};
  full.policy_source = PolicySource::kVmmMappings;
  full.mapping_policies = {{0, 64, 10, 0x7f00, Mempolicy{3, 0, {1}, -1}},
                           {16, 16, 10, 0x7e00, Mempolicy{2, 0, {1}, -1}}};
  EXPECT_TRUE(Check(full).empty()) << Check(full)[0].what;
}

TEST(ObservationInvariantsTest, VisibilityMustCoverTheFileInOrder) {
  GuestMemfd g = Gmem(64);
  g.visibility = {{0, 32, PageVisibility::kFull}};
  EXPECT_TRUE(Says(Check(g), "cover 32 pages of 64"));
  g.visibility = {{0, 32, PageVisibility::kFull}, {40, 24, PageVisibility::kFull}};
  EXPECT_TRUE(Says(Check(g), "expected 32"));
  g.visibility = {{0, 40, PageVisibility::kFull}, {32, 32, PageVisibility::kFull}};
  EXPECT_TRUE(Says(Check(g), "expected 40"));
  g.visibility = {{0, 0, PageVisibility::kFull}, {0, 64, PageVisibility::kFull}};
  EXPECT_TRUE(Says(Check(g), "count is 0"));
  g.visibility = {{0, 64, static_cast<PageVisibility>(9)}};
  EXPECT_TRUE(Says(Check(g), "visibility 9 is unknown"));
  g.visibility = {{0, ~0ull, PageVisibility::kFull}, {~0ull, 2, PageVisibility::kFull}};
  EXPECT_FALSE(Check(g).empty());
}

TEST(ObservationInvariantsTest, NothingIsClaimedWhereItWasNotObserved) {
  GuestMemfd g = Gmem(64);
  g.visibility = {{0, 64, PageVisibility::kNone}};
  g.folios = {{3, kPfnUnknown, 1, 0, 0}};
  EXPECT_TRUE(Says(Check(g), "not observable (visibility none)"));
  g.visibility = {{0, 64, PageVisibility::kInitializedOnly}};
  g.folios = {{3, 0x1234, 1, 0, 0}};
  EXPECT_TRUE(Says(Check(g), "known PFN"));
  g.folios = {{3, kPfnUnknown, 1, 0, 0}};
  g.hashes = {{3, 1, 42}};
  EXPECT_TRUE(Says(Check(g), "content hash inside pages whose contents are not observable"));
}

TEST(ObservationInvariantsTest, PolicyIsOnlyWhereItWasRead) {
  GuestMemfd g = Gmem(64);
  g.policy_source = PolicySource::kVmmMappings;
  g.policy = Mempolicy{2, 0, {1}, -1};
  EXPECT_TRUE(Says(Check(g), "an inode policy with policy source vmm-mappings"));
  g.policy = Mempolicy();
  g.policy_source = PolicySource::kUnknown;
  g.mapping_policies = {{0, 64, 1, 0x1000, Mempolicy()}};
  EXPECT_TRUE(Says(Check(g), "mapping policies with policy source unknown"));
  g.policy_source = PolicySource::kVmmMappings;
  g.mapping_policies = {{60, 8, 1, 0x1000, Mempolicy()}};
  EXPECT_TRUE(Says(Check(g), "past size"));
  g.mapping_policies = {{0, 0, 1, 0x1000, Mempolicy()}};
  EXPECT_TRUE(Says(Check(g), "count is 0"));
  g.mapping_policies = {{8, 8, 1, 0x1000, Mempolicy()}, {0, 8, 1, 0x2000, Mempolicy()}};
  EXPECT_TRUE(Says(Check(g), "not ordered"));
  g.mapping_policies.clear();
  g.policy_source = static_cast<PolicySource>(5);
  EXPECT_TRUE(Says(Check(g), "policy source 5 is unknown"));
}

// A home node not seen is -1, and only where the mode can hold one.
TEST(ObservationInvariantsTest, AHomeNodeNotSeenIsMinusOneOfABindOrPreferredManyPolicy) {
  GuestMemfd g = Gmem(64);
  g.policy = Mempolicy{2, 0, {1}, -1};
  g.policy.home_node_seen = false;
  EXPECT_TRUE(Check(g).empty());
  g.policy.home_node = 3;
  EXPECT_TRUE(Says(Check(g), "home node 3 given but not seen"));
  g.policy = Mempolicy{3, 0, {1}, -1};
  g.policy.home_node_seen = false;
  EXPECT_TRUE(Says(Check(g), "home node not seen for policy mode 3, which cannot hold one"));
  g.policy = Mempolicy();
  g.policy_source = PolicySource::kVmmMappings;
  MappingPolicy m{0, 64, 1, 0x1000, Mempolicy{5, 0, {1}, 2}};
  m.policy.home_node_seen = false;
  g.mapping_policies = {m};
  EXPECT_TRUE(Says(Check(g), "home node 2 given but not seen"));
  g.mapping_policies[0].policy.home_node = -1;
  EXPECT_TRUE(Check(g).empty());
}

}  // namespace
}  // namespace khod
