// CheckInvariants reports each kind of violation, with where it is, and
// nothing on valid snapshots.
#include "state/invariants.h"

#include <gtest/gtest.h>

#include "tests/support/random_snapshot.h"

namespace khod {
namespace {

Snapshot OneGmem() {
  Snapshot s;
  GuestMemfd g;
  g.token = 0x2a;
  g.size = 1024 * 4096;
  s.gmems.push_back(g);
  return s;
}

// True when some violation's where+what contains both needles.
bool Reports(const Snapshot& s, const std::string& where, const std::string& what) {
  for (const Violation& v : CheckInvariants(s))
    if (v.where.find(where) != std::string::npos && v.what.find(what) != std::string::npos)
      return true;
  return false;
}

// What a blob may hold (TextRule::kStored): a name with a C0 control, NUL or
// bytes that are not UTF-8 is refused wherever it comes from, naming what and
// where; one with a C1 control or a bidi override, which a caller can no
// longer give (state/text_rule.h kGiven), still decodes: an older khod saved it.
TEST(Invariants, ANameIsCheckedByTheStoredRuleSoThatOlderSavedNamesDecode) {
  struct Case {
    std::string name;
    std::string problem;  // "" for a name that is accepted
  };
  const Case cases[] = {
      {"vm0", ""},
      {"vm0\xc2\x9b"
       "2J\xe2\x80\xae",
       ""},
      {"ab\x1b[2J", "name contains control character U+001B at byte 2"},
      {"ab\x7f", "name contains control character U+007F at byte 2"},
      {std::string("ab\0", 3), "name contains a NUL byte (U+0000) at byte 2"},
      {"vm0\xff", "name is not valid UTF-8 at byte 3 (0xff)"},
  };
  for (const Case& c : cases) {
    Snapshot s = OneGmem();
    s.header.page_size = 4096;
    s.gmems[0].name = c.name;
    if (c.problem.empty())
      EXPECT_TRUE(CheckInvariants(s).empty())
          << ::testing::PrintToString(c.name) << ": " << InvariantsStatus(s).ToString();
    else
      EXPECT_TRUE(Reports(s, "gmem 0x2a", c.problem))
          << ::testing::PrintToString(c.name) << ": " << InvariantsStatus(s).ToString();
  }
  // The header's texts by the same rule.
  Snapshot s = OneGmem();
  s.header.page_size = 4096;
  s.header.producer = "khod\x1b";
  EXPECT_TRUE(Reports(s, "header", "producer contains control character U+001B at byte 4"));
}

TEST(Invariants, RandomSnapshotsAreValid) {
  for (uint64_t seed = 0; seed < 100; ++seed)
    EXPECT_TRUE(CheckInvariants(RandomSnapshot(seed)).empty());
}

TEST(Invariants, HeaderPageSize) {
  Snapshot s;
  s.header.page_size = 4097;
  EXPECT_TRUE(Reports(s, "header", "power of two"));
  s.header.page_size = 2048;
  EXPECT_TRUE(Reports(s, "header", "power of two"));
}

TEST(Invariants, SizeNotPageMultiple) {
  Snapshot s = OneGmem();
  s.gmems[0].size += 1;
  EXPECT_TRUE(Reports(s, "gmem 0x2a", "not a multiple of page size"));
}

TEST(Invariants, AListChangedAfterItsFactsWereWorkedOutIsCheckedAgain) {
  Snapshot s = OneGmem();
  s.gmems[0].folios = {{0, 100, 8, 0, 0}, {8, 500, 8, 0, 0}};
  EXPECT_TRUE(CheckInvariants(s).empty());  // facts worked out: well formed, within size
  // Changed in place (the array is this list's alone): the facts go with it.
  s.gmems[0].folios.Mutable()[1].first_index = 4;
  EXPECT_TRUE(Reports(s, "folios[1]", "overlaps"));
  s.gmems[0].folios.Mutable()[1] = {1000, 500, 100, 0, 0};
  EXPECT_TRUE(Reports(s, "folios[1]", "past size"));
  // A copy keeps the array it shared, and its facts.
  Snapshot t = OneGmem();
  t.gmems[0].folios = {{0, 100, 8, 0, 0}};
  EXPECT_TRUE(CheckInvariants(t).empty());
  const Snapshot shared = t;
  t.gmems[0].folios.push_back({4, 500, 2, 0, 0});
  EXPECT_TRUE(Reports(t, "folios[1]", "overlaps"));
  EXPECT_TRUE(CheckInvariants(shared).empty());
  // A buddy list the facts vouch for, in a file too small for it.
  Snapshot small = shared;
  small.gmems[0].size = 4 * 4096;
  EXPECT_TRUE(Reports(small, "folios[0]", "past size"));
}

TEST(Invariants, FolioExtentProblems) {
  Snapshot s = OneGmem();
  s.gmems[0].folios = {{10, 0, 5, 0, 0}, {12, 0, 1, 0, 0}, {2000, 0, 1, 0, 0}, {3000, 0, 0, 0, 0}};
  EXPECT_TRUE(Reports(s, "folios[1]", "overlaps"));
  EXPECT_TRUE(Reports(s, "folios[2]", "past size"));
  EXPECT_TRUE(Reports(s, "folios[3]", "nr_folios is 0"));
  Snapshot t = OneGmem();
  t.gmems[0].folios = {{3, 0, 1, 2, 0}};
  EXPECT_TRUE(Reports(t, "folios[0]", "not aligned to folio order 2"));
  EXPECT_TRUE(Reports(t, "folios[0]", "buddy-backed folio has order 2"));
  t.gmems[0].folios = {{0, 0, 1, 40, 0}};
  EXPECT_TRUE(Reports(t, "folios[0]", "above 18"));
  t.gmems[0].folios = {{0, ~0ull - 1, 4, 0, 0}};
  EXPECT_TRUE(Reports(t, "folios[0]", "pfn"));
}

TEST(Invariants, HugetlbOrderAndSize) {
  Snapshot s = OneGmem();
  GuestMemfd& g = s.gmems[0];
  g.backing = Backing::kHugetlb;
  g.hstate_order = 9;
  g.size = 700 * 4096;
  g.folios = {{0, 0, 1, 0, 0}};
  EXPECT_TRUE(Reports(s, "gmem 0x2a", "not a multiple of the hstate size"));
  EXPECT_TRUE(Reports(s, "folios[0]", "no restructure record covers it"));
}

TEST(Invariants, AttributesAndHashesPastSize) {
  Snapshot s = OneGmem();
  s.gmems[0].attributes.Set(1000, 100, kAttrPrivate);
  s.gmems[0].hashes = {{0, 10, 1}, {5, 1, 2}, {1020, 10, 3}};
  EXPECT_TRUE(Reports(s, "attributes", "past size"));
  EXPECT_TRUE(Reports(s, "hashes[1]", "overlaps"));
  EXPECT_TRUE(Reports(s, "hashes[2]", "past size"));
}

TEST(Invariants, RestructureRecords) {
  Snapshot s = OneGmem();
  s.gmems[0].restructures = {{0, 0, 9, 0, false, {{0, 512, 0}}}};
  EXPECT_TRUE(Reports(s, "restructures", "not HugeTLB-backed"));
  Snapshot t = OneGmem();
  GuestMemfd& g = t.gmems[0];
  g.backing = Backing::kHugetlb;
  g.hstate_order = 9;
  g.restructures = {{1, 0, 9, 0, false, {{0, 256, 0}}}};
  EXPECT_TRUE(Reports(t, "restructures[0]", "not aligned to original order 9"));
  EXPECT_TRUE(Reports(t, "restructures[0]", "layout covers 256 of 512"));
  g.restructures = {{512, 0, 9, 0, false, {{0, 256, 0}, {300, 1, 0}}}};
  EXPECT_TRUE(Reports(t, "layout[1]", "gap or overlap"));
}

TEST(Invariants, TokensAndMemslots) {
  Snapshot s = OneGmem();
  s.gmems.push_back(s.gmems[0]);
  EXPECT_TRUE(Reports(s, "gmems[1]", "duplicate gmem token"));
  Snapshot t = OneGmem();
  Vm vm;
  vm.token = 1;
  vm.memslots = {{0, 4, 0, 16, 0, 0x2a, 0},
                 {0, 4, 100, 16, 0, 0x2a, 64 * 4096},               // duplicate slot id
                 {1, 4, 8, 4, 0, 0x2a, 128 * 4096},                 // gfn overlap with [0]
                 {2, 4, 200, 16, 0, 0x2a, 8 * 4096},                // offsets overlap [0]
                 {3, 4, 300, 16, 0, 0x99, 0},                       // unknown gmem
                 {4, 4, 400, 1, 0, 0x2a, 100},                      // unaligned offset
                 {5, 4, 500, 16, 0, 0x2a, 1020 * 4096},             // past gmem size
                 {(1u << 16) | 6, 4, 0, 16, 0, 0x2a, 512 * 4096}};  // other AS: fine
  t.vms.push_back(vm);
  t.gmems[0].vm_token = 77;
  EXPECT_TRUE(Reports(t, "memslots[1]", "duplicate slot id"));
  EXPECT_TRUE(Reports(t, "memslots[2]", "gfns overlap memslots[0]"));
  EXPECT_TRUE(Reports(t, "memslots[3]", "gmem offsets overlap memslots[0]"));
  EXPECT_TRUE(Reports(t, "memslots[4]", "names no gmem"));
  EXPECT_TRUE(Reports(t, "memslots[5]", "not page aligned"));
  EXPECT_TRUE(Reports(t, "memslots[6]", "past the gmem size"));
  EXPECT_FALSE(Reports(t, "memslots[7]", ""));
  EXPECT_TRUE(Reports(t, "gmem 0x2a", "not in the snapshot"));
  const Status st = InvariantsStatus(t);
  EXPECT_EQ(st.code(), Status::Code::kCorruption);
  EXPECT_NE(st.message().find("invariant violation"), std::string::npos);
}

}  // namespace
}  // namespace khod
