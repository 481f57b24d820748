// AttributeMap against a brute-force per-page array, over random Set() calls.
#include "state/attribute_map.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

namespace khod {
namespace {

void ExpectMatches(const AttributeMap& m, const std::vector<uint64_t>& pages) {
  for (uint64_t i = 0; i < pages.size(); ++i) ASSERT_EQ(m.Get(i), pages[i]) << "page " << i;
  // Stored ranges are disjoint, ordered, non-zero and coalesced.
  auto ranges = m.Ranges();
  for (size_t i = 0; i < ranges.size(); ++i) {
    EXPECT_NE(ranges[i].value, 0u);
    EXPECT_GT(ranges[i].count, 0u);
    if (i > 0) {
      uint64_t prev_end = ranges[i - 1].first + ranges[i - 1].count;
      EXPECT_LE(prev_end, ranges[i].first);
      EXPECT_FALSE(prev_end == ranges[i].first && ranges[i - 1].value == ranges[i].value)
          << "uncoalesced neighbours at " << ranges[i].first;
    }
  }
}

TEST(AttributeMap, RandomSetsMatchBruteForce) {
  std::mt19937_64 rng(42);
  const uint64_t kPages = 512;
  for (int round = 0; round < 20; ++round) {
    AttributeMap m;
    std::vector<uint64_t> pages(kPages, 0);
    for (int step = 0; step < 300; ++step) {
      uint64_t first = rng() % kPages;
      uint64_t count = 1 + rng() % (kPages - first);
      if (rng() % 4 == 0) count = std::min<uint64_t>(1 + rng() % 4, kPages - first);
      uint64_t value = (rng() % 3 == 0) ? 0 : (rng() % 2 ? kAttrPrivate : 1);
      m.Set(first, count, value);
      for (uint64_t i = first; i < first + count; ++i) pages[i] = value;
      ExpectMatches(m, pages);
      // IsUniform agrees with the brute force on a random window.
      uint64_t wf = rng() % kPages, wc = 1 + rng() % (kPages - wf);
      bool uniform = true;
      for (uint64_t i = wf; i < wf + wc; ++i) uniform &= pages[i] == pages[wf];
      EXPECT_EQ(m.IsUniform(wf, wc, pages[wf]), uniform);
    }
    AttributeMap copy;
    copy.Assign(m.Ranges());
    EXPECT_EQ(copy, m);
  }
}

TEST(AttributeMap, ForEachClipsToWindow) {
  AttributeMap m;
  m.Set(10, 10, kAttrPrivate);
  m.Set(30, 5, kAttrPrivate);
  std::vector<AttributeRange> seen;
  m.ForEach(15, 18, [&](const AttributeRange& r) { seen.push_back(r); });
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], (AttributeRange{15, 5, kAttrPrivate}));
  EXPECT_EQ(seen[1], (AttributeRange{30, 3, kAttrPrivate}));
  EXPECT_EQ(m.end(), 35u);
}

TEST(AttributeMap, AdjacentEqualRangesCoalesce) {
  AttributeMap m;
  m.Set(0, 4, kAttrPrivate);
  m.Set(8, 4, kAttrPrivate);
  EXPECT_EQ(m.range_count(), 2u);
  m.Set(4, 4, kAttrPrivate);
  EXPECT_EQ(m.range_count(), 1u);
  m.Set(5, 1, 0);
  EXPECT_EQ(m.range_count(), 2u);
}

}  // namespace
}  // namespace khod
