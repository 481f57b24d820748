// The one spelling of a NUMA policy: mode names, node ranges, flags, home node.
#include "kernel/mempolicy_text.h"

#include <gtest/gtest.h>
#include <linux/mempolicy.h>

namespace khod {
namespace {

Mempolicy Policy(int32_t mode, std::vector<uint64_t> nodes, int32_t home = -1, bool seen = true) {
  Mempolicy p;
  p.mode = mode;
  p.nodemask = std::move(nodes);
  p.home_node = home;
  p.home_node_seen = seen;
  return p;
}

TEST(MempolicyText, NamesEveryModeAndNumbersAnUnknownOne) {
  EXPECT_EQ(MempolicyModeName(MPOL_DEFAULT), "default");
  EXPECT_EQ(MempolicyModeName(MPOL_PREFERRED), "preferred");
  EXPECT_EQ(MempolicyModeName(MPOL_BIND), "bind");
  EXPECT_EQ(MempolicyModeName(MPOL_INTERLEAVE), "interleave");
  EXPECT_EQ(MempolicyModeName(MPOL_LOCAL), "local");
  EXPECT_EQ(MempolicyModeName(5), "preferred-many");
  EXPECT_EQ(MempolicyModeName(6), "weighted-interleave");
  EXPECT_EQ(MempolicyModeName(9), "mode 9");
  EXPECT_EQ(MempolicyModeName(-1), "mode -1");
}

TEST(MempolicyText, NodesAreRangesAcrossWords) {
  EXPECT_EQ(NodeListText({}), "");
  EXPECT_EQ(NodeListText({0}), "");
  EXPECT_EQ(NodeListText({0x1}), "0");
  EXPECT_EQ(NodeListText({0xf | 1ull << 8}), "0-3,8");
  // Nodes 63 and 64 sit in two words and still make one range.
  EXPECT_EQ(NodeListText({1ull << 63, 0x1}), "63-64");
  EXPECT_EQ(NodeListText({~0ull}), "0-63");
}

TEST(MempolicyText, SaysFlagsNodesAndTheHomeNodeOnlyAsSeen) {
  EXPECT_EQ(MempolicyToString(Policy(MPOL_DEFAULT, {})), "default");
  EXPECT_EQ(MempolicyToString(Policy(MPOL_INTERLEAVE, {0x3})), "interleave nodes=0-1");
  EXPECT_EQ(MempolicyToString(Policy(MPOL_BIND, {0x1}, 1)), "bind nodes=0 home=1");
  EXPECT_EQ(MempolicyToString(Policy(MPOL_BIND, {0x1}, -1, false)), "bind nodes=0 home=?");
  // A mode that holds no home node has none to be unseen.
  EXPECT_EQ(MempolicyToString(Policy(MPOL_INTERLEAVE, {0x1}, -1, false)), "interleave nodes=0");
  Mempolicy flagged = Policy(MPOL_BIND, {0x2});
  flagged.mode_flags = MPOL_F_STATIC_NODES | 1u << 10;
  EXPECT_EQ(MempolicyToString(flagged), "bind static flags=0x400 nodes=1");
  flagged.mode_flags = MPOL_F_RELATIVE_NODES | MPOL_F_NUMA_BALANCING;
  EXPECT_EQ(MempolicyToString(flagged), "bind relative balancing nodes=1");
}

}  // namespace
}  // namespace khod
