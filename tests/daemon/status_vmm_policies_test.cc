// AppendVmmPolicies (daemon/status_vmm_policies.h): a StatusReply lists the VMMs' NUMA ranges
// up to a bound over the whole reply, and says how many of a gmem's it left out.
#include "daemon/status_vmm_policies.h"

#include <gtest/gtest.h>
#include <linux/mempolicy.h>

#include <string>
#include <vector>

namespace khod {
namespace {

std::vector<MappingPolicy> Ranges(size_t n) {
  Mempolicy bind;
  bind.mode = MPOL_BIND;
  bind.nodemask = {1};
  std::vector<MappingPolicy> v;
  for (size_t i = 0; i < n; ++i) v.push_back(MappingPolicy{2 * i, 1, 4242, 0, bind});
  return v;
}

TEST(StatusVmmPoliciesTest, EveryRangeIsListedWithItsPolicy) {
  v1::GmemInfo info;
  info.set_policy_note("handed to the VMM");
  EXPECT_EQ(AppendVmmPolicies(Ranges(3), nullptr, &info), 3u);
  ASSERT_EQ(info.vmm_policies_size(), 3);
  EXPECT_EQ(info.vmm_policies(2).first_page(), 4u);
  EXPECT_EQ(info.vmm_policies(2).pages(), 1u);
  EXPECT_EQ(info.vmm_policies(2).mode(), MPOL_BIND);
  EXPECT_EQ(info.vmm_policies(2).text(), "bind nodes=0");
  EXPECT_FALSE(info.vmm_policies(2).has_home_node());
  EXPECT_TRUE(info.vmm_policies(2).home_node_seen());
  EXPECT_EQ(info.policy_note(), "handed to the VMM");
}

// The VMM is handed the home node to set after its mbind, or told none was seen.
TEST(StatusVmmPoliciesTest, TheHomeNodeIsHandedOnOrSaidUnseen) {
  std::vector<MappingPolicy> v = Ranges(2);
  v[0].policy.home_node = 0;
  v[1].policy.home_node_seen = false;
  v1::GmemInfo info;
  ASSERT_EQ(AppendVmmPolicies(v, nullptr, &info), 2u);
  ASSERT_TRUE(info.vmm_policies(0).has_home_node());
  EXPECT_EQ(info.vmm_policies(0).home_node(), 0);
  EXPECT_TRUE(info.vmm_policies(0).home_node_seen());
  EXPECT_FALSE(info.vmm_policies(1).has_home_node());
  EXPECT_FALSE(info.vmm_policies(1).home_node_seen());
  // A reply that does not carry the fields (an older khod) claims nothing: no home
  // node to set, none seen.
  v1::VmmPolicy old;
  EXPECT_FALSE(old.has_home_node());
  EXPECT_FALSE(old.home_node_seen());
}

// Five gmems each handed 4096 ranges (the most a gmem is handed): the reply
// lists 16384 in all, and the gmems whose ranges ran out say how many.
TEST(StatusVmmPoliciesTest, TheReplyListsAtMostItsBoundAndSaysWhatItLeftOut) {
  size_t budget = kMaxVmmPoliciesInStatus;
  std::vector<v1::GmemInfo> infos(5);
  size_t listed = 0;
  for (v1::GmemInfo& info : infos) listed += AppendVmmPolicies(Ranges(4096), &budget, &info);
  EXPECT_EQ(listed, kMaxVmmPoliciesInStatus);
  EXPECT_EQ(budget, 0u);
  EXPECT_EQ(infos[3].vmm_policies_size(), 4096);
  EXPECT_EQ(infos[3].policy_note(), "");
  EXPECT_EQ(infos[4].vmm_policies_size(), 0);
  EXPECT_EQ(infos[4].policy_note(),
            "4096 of its 4096 ranges to bind are not listed here: a status lists at most 16384 "
            "over all gmems");
  size_t bytes = 0;
  for (const v1::GmemInfo& info : infos) bytes += info.ByteSizeLong();
  EXPECT_LT(bytes, size_t{1} << 20) << "a reply's ranges stay far below gRPC's 4 MiB";
}

}  // namespace
}  // namespace khod
