#include "verify/snapshot_diff.h"

#include <gtest/gtest.h>

namespace khod {
namespace {

GuestMemfd Gmem() {
  GuestMemfd g;
  g.token = 0x2a;
  g.name = "ram0";
  g.size = 4096 * 4096;
  g.folios.push_back(FolioExtent{0, 1000, 2048, 0, kFolioUptodate});
  g.folios.push_back(FolioExtent{2048, 9000, 2048, 0, kFolioUptodate});
  return g;
}

Snapshot Snap(const GuestMemfd& g) {
  Snapshot s;
  s.gmems.push_back(g);
  Vm vm;
  vm.token = 1;
  vm.memslots.push_back(Memslot{0, 4, 0, 4096, 0, 0x2a, 0});
  s.vms.push_back(vm);
  return s;
}

std::vector<Difference> Diff(const GuestMemfd& a, const GuestMemfd& b, DiffOptions o = {}) {
  std::vector<Difference> out;
  DiffGmems(a, b, o, &out);
  return out;
}

TEST(SnapshotDiffTest, EqualIsEmptyEvenWithDifferentHeaderTimes) {
  Snapshot a = Snap(Gmem()), b = a;
  b.header.capture_time_ns = 5;
  EXPECT_TRUE(DiffSnapshots(a, b).empty());
  DiffOptions strict;
  strict.compare_header = true;
  ASSERT_EQ(DiffSnapshots(a, b, strict).size(), 1u);
}

TEST(SnapshotDiffTest, PunchedHoleIsOneRange) {
  GuestMemfd a = Gmem(), b = a;
  b.folios = {FolioExtent{0, 1000, 100, 0, kFolioUptodate},
              FolioExtent{400, 1400, 1648, 0, kFolioUptodate}, a.folios[1]};
  auto d = Diff(a, b);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].field, "folios pages 100-399");
  EXPECT_EQ(d[0].found, "hole");
  EXPECT_EQ(d[0].ToString(),
            "gmem 0x2a 'ram0': folios pages 100-399: expected resident pfn 0x44c order 0 flags 0x1, found hole");
}

TEST(SnapshotDiffTest, SameLayoutSplitDifferentlyIsEqualButMovedPfnsAreNot) {
  GuestMemfd a = Gmem(), b = a;
  b.folios = {FolioExtent{0, 1000, 1000, 0, kFolioUptodate}, FolioExtent{1000, 2000, 1048, 0, kFolioUptodate},
              a.folios[1]};
  EXPECT_TRUE(Diff(a, b).empty());  // same pages, same PFNs, split differently
  b.folios[1].first_pfn = 7000;     // pages 1000-2047 moved
  auto d = Diff(a, b);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].field, "folios pages 1000-2047");
  DiffOptions no_pfn;
  no_pfn.compare_pfns = false;
  EXPECT_TRUE(Diff(a, b, no_pfn).empty());
}

TEST(SnapshotDiffTest, NewPageAndOrderChange) {
  GuestMemfd a = Gmem(), b = a;
  b.size = a.size;
  a.folios.pop_back();
  auto d = Diff(a, b);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].field, "folios pages 2048-4095");
  EXPECT_EQ(d[0].expected, "hole");
  GuestMemfd h = Gmem(), s = h;
  h.folios = {FolioExtent{0, 512, 4, 9, 0}};
  s.folios = {FolioExtent{0, 512, 2048, 0, 0}};
  ASSERT_EQ(Diff(h, s).size(), 1u);
}

TEST(SnapshotDiffTest, ScalarsPolicyAttributesHashes) {
  GuestMemfd a = Gmem(), b = a;
  b.size += 4096;
  b.policy.mode = 3;
  b.attributes.Set(10, 5, kAttrPrivate);
  a.hashes = {ContentHash{0, 2048, 1}, ContentHash{2048, 2048, 2}};
  b.hashes = {ContentHash{0, 2048, 1}, ContentHash{2048, 2048, 3}};
  auto d = Diff(a, b);
  std::vector<std::string> fields;
  for (const auto& x : d) fields.push_back(x.field);
  EXPECT_EQ(fields, (std::vector<std::string>{"size", "policy", "attributes pages 10-14", "contents pages 2048-4095"}));
}

TEST(SnapshotDiffTest, MissingGmemAndMemslotChanges) {
  Snapshot a = Snap(Gmem()), b = a;
  b.vms[0].memslots[0].npages = 2048;
  b.gmems.clear();
  auto d = DiffSnapshots(a, b);
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].field, "vm 0x1 slot 0 npages");
  EXPECT_EQ(d[1].field, "guest_memfd");
  EXPECT_EQ(d[1].found, "missing");
}

TEST(SnapshotDiffTest, ListIsCut) {
  GuestMemfd a = Gmem(), b = a;
  b.folios.clear();
  for (uint64_t i = 0; i < 4096; i += 2) b.folios.push_back(FolioExtent{i, 1000 + i, 1, 0, kFolioUptodate});
  DiffOptions o;
  o.max_differences = 10;
  Snapshot sa = Snap(a), sb = Snap(b);
  auto d = DiffSnapshots(sa, sb, o);
  ASSERT_EQ(d.size(), 11u);
  EXPECT_EQ(d.back().field, "(list cut)");
}

}  // namespace
}  // namespace khod
