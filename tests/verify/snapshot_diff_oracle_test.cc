// DiffGmems against a page-by-page oracle of the documented rules
// (tests/verify/page_oracle.h) on seeded random pairs: one random file and
// the same after random mutations (punch, new pages, PFN moved, flags,
// HugeTLB split and merge, visibility narrowed or widened, hashes recut,
// changed, dropped or made again, PFNs unseen, a capture without
// CAP_SYS_ADMIN, growth, attributes, extents cut otherwise). Counts, every
// page range listed, the not-verified parts and their page counts must be
// the oracle's. A mismatch prints its seed, both files and what disagreed;
// KHOD_ORACLE_SEED=N runs that seed alone; KHOD_ORACLE_SURVEY=1 runs every
// seed and prints only each failing seed's disagreements.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>

#include "tests/verify/page_oracle.h"

namespace khod {
namespace {

using page_oracle::Case;
using page_oracle::CheckCase;
using page_oracle::Choices;
using page_oracle::RandomCase;
using page_oracle::Report;

constexpr uint64_t kCases = 4000;

TEST(SnapshotDiffOracleTest, RandomPairsAgreeWithThePageOracle) {
  uint64_t first = 1, end = 1 + kCases;
  if (const char* one = std::getenv("KHOD_ORACLE_SEED")) {
    first = std::strtoull(one, nullptr, 10);
    end = first + 1;
  }
  const bool survey = std::getenv("KHOD_ORACLE_SURVEY") != nullptr;
  const auto start = std::chrono::steady_clock::now();
  int failures = 0;
  uint64_t with_differences = 0, with_unverified = 0, fully_verified = 0, pages = 0;
  std::map<int, uint64_t> mutations;
  std::set<UnverifiedKind> kinds;
  for (uint64_t seed = first; seed < end && (survey || failures < 5); ++seed) {
    Choices r(seed);
    const Case c = RandomCase(r);
    const std::vector<std::string> bad = CheckCase(c);
    if (!bad.empty()) {
      ++failures;
      if (survey) {
        std::string s = "seed " + std::to_string(seed) + ":";
        for (const std::string& b : bad) s += "\n  " + b.substr(0, 300);
        ADD_FAILURE() << s;
        continue;
      }
      ADD_FAILURE() << "seed " << seed << " (KHOD_ORACLE_SEED=" << seed << ")\n" << Report(c, bad);
      continue;
    }
    for (int m : c.applied) ++mutations[m];
    SnapshotDiff d;
    DiffGmems(c.expected, c.found, c.opts, &d);
    with_differences += !d.differences.empty();
    with_unverified += !d.unverified.empty();
    fully_verified += d.fully_verified();
    pages += d.counts.pages_equal + d.counts.pages_different + d.counts.pages_unverified;
    for (const UnverifiedGmem& u : d.unverified) kinds.insert(u.kinds.begin(), u.kinds.end());
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "%llu cases, %llu pages in %.2f s: %llu with differences, %llu with parts not "
      "verified, %llu fully verified\n",
      static_cast<unsigned long long>(end - first), static_cast<unsigned long long>(pages), seconds,
      static_cast<unsigned long long>(with_differences),
      static_cast<unsigned long long>(with_unverified),
      static_cast<unsigned long long>(fully_verified));
  if (end - first < kCases || failures) return;
  // The generator reaches what it is for: equal and different pairs both
  // common, every mutation, every page kind of not verified.
  EXPECT_GT(with_differences, kCases / 5);
  EXPECT_GT(fully_verified, kCases / 10);
  EXPECT_GT(with_unverified, kCases / 5);
  for (int m = 0; m < page_oracle::kMutations; ++m)
    EXPECT_GT(mutations[m], 50u) << page_oracle::MutationName(m);
  for (UnverifiedKind k : {UnverifiedKind::kPagesPrivate, UnverifiedKind::kPagesInvisible,
                           UnverifiedKind::kPfnsUnseen, UnverifiedKind::kContentsCutOtherwise,
                           UnverifiedKind::kContentsNotHashed, UnverifiedKind::kDeclaredAttributes})
    EXPECT_EQ(kinds.count(k), 1u) << static_cast<int>(k);
}

// The oracle itself notices a wrong answer: a difference left out, a count
// moved, a part dropped.
TEST(SnapshotDiffOracleTest, TheOracleNoticesAWrongAnswer) {
  int differences = 0, counts = 0, parts = 0;
  for (uint64_t seed = 1; seed < 300; ++seed) {
    Choices r(seed);
    const Case c = RandomCase(r);
    SnapshotDiff d;
    DiffGmems(c.expected, c.found, c.opts, &d);
    ASSERT_TRUE(page_oracle::Disagreements(c.expected, c.found, c.opts, d).empty()) << seed;
    for (size_t i = 0; i < d.differences.size(); ++i) {
      if (d.differences[i].field.compare(0, 12, "restructure ") == 0) continue;
      SnapshotDiff w = d;
      w.differences.erase(w.differences.begin() + static_cast<long>(i));
      EXPECT_FALSE(page_oracle::Disagreements(c.expected, c.found, c.opts, w).empty())
          << seed << " without " << d.differences[i].ToString();
      ++differences;
    }
    if (d.counts.pages_equal) {
      SnapshotDiff w = d;
      --w.counts.pages_equal;
      ++w.counts.pages_unverified;
      EXPECT_FALSE(page_oracle::Disagreements(c.expected, c.found, c.opts, w).empty()) << seed;
      ++counts;
    }
    if (!d.unverified.empty() && d.unverified[0].parts.size() > 0) {
      SnapshotDiff w = d;
      w.unverified[0].parts.pop_back();
      w.unverified[0].kinds.pop_back();
      EXPECT_FALSE(page_oracle::Disagreements(c.expected, c.found, c.opts, w).empty()) << seed;
      ++parts;
    }
  }
  EXPECT_GT(differences, 50);
  EXPECT_GT(counts, 50);
  EXPECT_GT(parts, 50);
}

}  // namespace
}  // namespace khod
