#include "verify/snapshot_diff.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "verify/verdict.h"

namespace khod {
namespace {

// A kernel file whose two extents were hashed (contents compared: a file
// hashed by neither side is SnapshotDiffContentsTest's).
GuestMemfd Gmem() {
  GuestMemfd g;
  g.token = 0x2a;
  g.name = "ram0";
  g.size = 4096 * 4096;
  g.folios.push_back(FolioExtent{0, 1000, 2048, 0, kFolioUptodate});
  g.folios.push_back(FolioExtent{2048, 9000, 2048, 0, kFolioUptodate});
  g.hashes = {ContentHash{0, 2048, 0x5a}, ContentHash{2048, 2048, 0x5b}};
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
  SnapshotDiff out;
  DiffGmems(a, b, o, &out);
  return out.differences;
}

TEST(SnapshotDiffTest, EqualIsEmptyEvenWithDifferentHeaderTimes) {
  Snapshot a = Snap(Gmem()), b = a;
  b.header.capture_time_ns = 5;
  const SnapshotDiff d = DiffSnapshots(a, b);
  EXPECT_TRUE(d.equal());
  // Its one memslot is declared, never observed: named, never called equal.
  ASSERT_EQ(d.unverified.size(), 1u);
  EXPECT_EQ(d.unverified[0].ToString(),
            "gmem 0x2a 'ram0': 1 memslot(s) of VM 0x0: the VMM's declaration, not read from the "
            "kernel");
  a.vms.clear();
  b.vms.clear();
  EXPECT_TRUE(DiffSnapshots(a, b).fully_verified());
  DiffOptions strict;
  strict.compare_header = true;
  ASSERT_EQ(DiffSnapshots(a, b, strict).differences.size(), 1u);
}

// A file that grew (or shrank): the pages past the smaller end are on one
// side only, counted different, not equal.
TEST(SnapshotDiffTest, PagesOnOneSideOnlyAreDifferentNotEqual) {
  GuestMemfd grown = Gmem();
  grown.size *= 2;
  SnapshotDiff out;
  DiffGmems(Gmem(), grown, DiffOptions(), &out);
  ASSERT_FALSE(out.differences.empty());
  EXPECT_EQ(out.differences[0].field, "size");
  EXPECT_EQ(out.counts.pages_different, 4096u);
  EXPECT_EQ(out.counts.pages_equal, 4096u);
  EXPECT_EQ(out.counts.pages_unverified, 0u);
}

// Memslots and a kernel file's shared/private attributes are the VMM's
// declaration (KVM reads neither back, and answers a VM's calls only in its
// creator): a change of declaration is a difference, an equal one is named
// not verified, never equal. A MODEL guest's attributes are its own state.
TEST(SnapshotDiffTest, DeclaredMemslotsAndAttributesAreNeverCalledEqual) {
  GuestMemfd g = Gmem();
  g.vm_token = 1;
  g.attributes.Set(0, 16, kAttrPrivate);
  Snapshot a = Snap(g), b = a;
  SnapshotDiff d = DiffSnapshots(a, b);
  EXPECT_TRUE(d.equal());
  EXPECT_FALSE(d.fully_verified());
  EXPECT_EQ(VerdictExitCode(VerdictOf(d)), 3);
  ASSERT_EQ(d.unverified.size(), 1u);
  const std::string text = d.unverified[0].ToString();
  EXPECT_NE(text.find("shared/private attributes (1 ranges): the VMM's declaration"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("1 memslot(s) of VM 0x1: the VMM's declaration"), std::string::npos) << text;
  EXPECT_EQ(d.unverified[0].kinds,
            (std::vector<UnverifiedKind>{UnverifiedKind::kDeclaredAttributes,
                                         UnverifiedKind::kDeclaredMemslots}));
  // The VM alone, with no memslot, is a declaration too.
  Snapshot no_slots = a;
  no_slots.vms[0].memslots.clear();
  no_slots.vms[0].vm_type = 2;
  d = DiffSnapshots(no_slots, no_slots);
  EXPECT_EQ(VerdictExitCode(VerdictOf(d)), 3);
  ASSERT_EQ(d.unverified.size(), 1u);
  EXPECT_NE(d.unverified[0].ToString().find("bound to VM 0x1 (type 2), no memslot: the VMM's "
                                            "declaration, not read from the kernel"),
            std::string::npos)
      << d.unverified[0].ToString();
  // A declaration that changed is a difference.
  b.vms[0].memslots[0].base_gfn = 0x100;
  d = DiffSnapshots(a, b);
  EXPECT_FALSE(d.equal());
  // A MODEL guest's attributes are observed in the model: compared, not named.
  a.vms.clear();
  a.gmems[0].provenance = Provenance::kModel;
  b = a;
  d = DiffSnapshots(a, b);
  EXPECT_TRUE(d.fully_verified()) << (d.unverified.empty() ? "" : d.unverified[0].ToString());
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
            "gmem 0x2a 'ram0': folios pages 100-399: expected resident pfn 0x44c order 0 flags "
            "0x1, found hole");
}

// For a caller the kernel would not show PFNs to, a difference says what
// changed without the PFNs and flags: the same difference, the same pages.
TEST(SnapshotDiffTest, AMovedPageIsADifferenceWithItsPfnsHiddenWhenAsked) {
  GuestMemfd a = Gmem(), b = a;
  b.folios = {FolioExtent{0, 1000, 100, 0, kFolioUptodate},
              FolioExtent{100, 7777, 1948, 0, kFolioUptodate}, a.folios[1]};
  DiffOptions hidden;
  hidden.show_pfns = false;
  auto d = Diff(a, b, hidden);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].field, "folios pages 100-2047");
  EXPECT_EQ(d[0].expected, "resident pfn (root only) order 0");
  EXPECT_EQ(d[0].found, "resident pfn (root only) order 0");
  EXPECT_EQ(Diff(a, b)[0].found, "resident pfn 0x1e61 order 0 flags 0x1");
}

TEST(SnapshotDiffTest, SameLayoutSplitDifferentlyIsEqualButMovedPfnsAreNot) {
  GuestMemfd a = Gmem(), b = a;
  b.folios = {FolioExtent{0, 1000, 1000, 0, kFolioUptodate},
              FolioExtent{1000, 2000, 1048, 0, kFolioUptodate}, a.folios[1]};
  EXPECT_TRUE(Diff(a, b).empty());         // same pages, same PFNs, split differently
  b.folios.Mutable()[1].first_pfn = 7000;  // pages 1000-2047 moved
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
  a.folios.Mutable().pop_back();
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
  EXPECT_EQ(fields, (std::vector<std::string>{"size", "policy", "attributes pages 10-14",
                                              "contents pages 2048-4095"}));
}

// A hash is per extent: a capture that saw no PFNs (khoctl verify without
// CAP_SYS_ADMIN) joins the two extents into one, and hashes it so. Cut
// otherwise, the hashes compare nothing: not verified, never DIFFERENT. Where
// both saw the PFNs it is the same (SnapshotDiffHashTest below): a hash is
// compared only with one over the same pages.
TEST(SnapshotDiffTest, HashesCutOtherwiseWhereNoPfnWasSeenAreNotCompared) {
  GuestMemfd a = Gmem(), b = a;
  a.hashes = {ContentHash{0, 2048, 1}, ContentHash{2048, 2048, 2}};
  b.folios = FolioList({FolioExtent{0, kPfnUnknown, 4096, 0, kFolioUptodate}});
  b.hashes = {ContentHash{0, 4096, 7}};
  SnapshotDiff d;
  DiffGmems(a, b, DiffOptions(), &d);
  EXPECT_TRUE(d.differences.empty()) << d.differences[0].field << ": " << d.differences[0].found;
  ASSERT_EQ(d.unverified.size(), 1u);
  EXPECT_NE(d.unverified[0].ToString().find("contents of 4096 pages hashed over ranges cut "
                                            "otherwise, where a capture saw no PFN: not compared"),
            std::string::npos)
      << d.unverified[0].ToString();
  // The same with neither PFNs nor folio flags compared: still not compared, and the
  // pages whose PFN a side did not see are not named for it.
  DiffOptions no_pfns;
  no_pfns.compare_pfns = false;
  no_pfns.compare_folio_flags = false;
  d = SnapshotDiff();
  DiffGmems(a, b, no_pfns, &d);
  EXPECT_TRUE(d.differences.empty()) << d.differences[0].field << ": " << d.differences[0].found;
  ASSERT_EQ(d.unverified.size(), 1u);
  EXPECT_EQ(d.unverified[0].kinds, std::vector<UnverifiedKind>{UnverifiedKind::kPfnsUnseen});
  EXPECT_NE(d.unverified[0].ToString().find("contents of 4096 pages hashed over ranges cut "
                                            "otherwise, where a capture saw no PFN: not compared"),
            std::string::npos)
      << d.unverified[0].ToString();
  // Their pages are not verified, never counted equal.
  EXPECT_EQ(d.unverified[0].pages, 4096u);
  EXPECT_EQ(d.counts.pages_equal, 0u);
  // Both saw every PFN: the same pages hashed over other ranges are not
  // compared either, named apart (no PFN explains the cut).
  GuestMemfd c = a;
  c.hashes = {ContentHash{0, 4096, 7}};
  d = SnapshotDiff();
  DiffGmems(a, c, DiffOptions(), &d);
  EXPECT_TRUE(d.differences.empty()) << d.differences[0].ToString();
  ASSERT_EQ(d.unverified.size(), 1u);
  EXPECT_EQ(d.unverified[0].kinds,
            std::vector<UnverifiedKind>{UnverifiedKind::kContentsCutOtherwise});
  EXPECT_EQ(d.unverified[0].pages, 4096u);
}

TEST(SnapshotDiffTest, MissingGmemAndMemslotChanges) {
  Snapshot a = Snap(Gmem()), b = a;
  b.vms[0].memslots[0].npages = 2048;
  b.gmems.clear();
  auto d = DiffSnapshots(a, b).differences;
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].field, "vm 0x1 slot 0 npages");
  EXPECT_EQ(d[1].field, "guest_memfd");
  EXPECT_EQ(d[1].found, "missing");
}

TEST(SnapshotDiffTest, ListIsCut) {
  GuestMemfd a = Gmem(), b = a;
  b.folios.clear();
  for (uint64_t i = 0; i < 4096; i += 2)
    b.folios.push_back(FolioExtent{i, 1000 + i, 1, 0, kFolioUptodate});
  DiffOptions o;
  o.max_differences = 10;
  Snapshot sa = Snap(a), sb = Snap(b);
  auto d = DiffSnapshots(sa, sb, o).differences;
  ASSERT_EQ(d.size(), 11u);
  EXPECT_EQ(d.back().field, "(list cut)");
}

// 3000 differences, 1000 listed: every count says 3000, never 1001 (the
// "(list cut)" entry is none of them).
TEST(SnapshotDiffTest, ACutListCountsEveryDifferenceNotTheCut) {
  GuestMemfd a = Gmem();
  a.size = 6000 * 4096;
  a.folios = {FolioExtent{0, 1000, 6000, 0, kFolioUptodate}};
  GuestMemfd b = a;
  b.folios.clear();
  for (uint64_t i = 0; i < 6000; i += 2)  // every odd page punched
    b.folios.push_back(FolioExtent{i, 1000 + i, 1, 0, kFolioUptodate});
  const SnapshotDiff d = DiffSnapshots(Snap(a), Snap(b));
  ASSERT_EQ(d.differences.size(), 1001u);
  EXPECT_EQ(d.differences.back().ToString(),
            "(list cut): expected 1000 shown, found 3000 differences in all");
  EXPECT_EQ(d.counts.pages_different, 3000u);
  EXPECT_EQ(d.differences_unlisted, 2000u);
  EXPECT_EQ(d.difference_count(), 3000u);
  const std::string line = VerdictLine(d, VerifyCounts());
  EXPECT_EQ(line.substr(0, line.find(',')), "3000 differences") << line;
}

// guest_memfds as Linux 6.18 shows them (../shared/notes/gmem-6.18-facts.md):
// flags 0 or 2 cannot be mapped (ENODEV), so nothing per page is visible; MMAP
// without INIT_SHARED shows which pages are initialized (mincore) but no PFN.
constexpr uint64_t kPages = 4096;

GuestMemfd Private(PageVisibility v) {
  GuestMemfd g;
  g.token = 0x3;
  g.name = "gmem_private";
  g.size = kPages * 4096;
  g.inode = 130198;
  g.flags = v == PageVisibility::kNone ? 0 : 1;
  g.flags_known = 1;  // MMAP from mmap(PROT_NONE); INIT_SHARED never shown here
  g.policy_source = PolicySource::kVmmMappings;
  g.visibility = {VisibilityRange{0, kPages, v}};
  if (v == PageVisibility::kInitializedOnly)
    g.folios.push_back(FolioExtent{0, kPfnUnknown, 100, 0, kFolioUptodate});
  return g;
}

SnapshotDiff DiffOf(const GuestMemfd& a, const GuestMemfd& b, DiffOptions o = {}) {
  SnapshotDiff out;
  DiffGmems(a, b, o, &out);
  return out;
}

TEST(SnapshotDiffVisibilityTest, FlagsZeroIsNotVerifiedNeverEqual) {
  GuestMemfd a = Private(PageVisibility::kNone), b = a;
  // Whatever the guest did (here: a made-up change nobody could have seen),
  // nothing per page is compared and every page is named as not verified.
  b.folios.push_back(FolioExtent{0, 5000, 10, 0, kFolioUptodate});
  SnapshotDiff d = DiffOf(a, b);
  EXPECT_TRUE(d.differences.empty());
  EXPECT_FALSE(d.fully_verified());
  EXPECT_EQ(VerdictExitCode(VerdictOf(d)), 3);
  EXPECT_EQ(d.counts.pages_unverified, kPages);
  EXPECT_EQ(d.counts.pages_equal, 0u);
  EXPECT_EQ(d.counts.pages_different, 0u);
  ASSERT_EQ(d.unverified.size(), 1u);
  EXPECT_EQ(d.unverified[0].pages, kPages);
  EXPECT_EQ(d.unverified[0].kinds,
            (std::vector<UnverifiedKind>{UnverifiedKind::kPagesInvisible,
                                         UnverifiedKind::kNumaPlacementByAllocator}));
  EXPECT_EQ(d.unverified[0].ToString().rfind(
                "gmem 0x3 'gmem_private': 4096 pages: no per-page state visible to the host "
                "(guest_memfd created without MMAP); NUMA placement of new pages: ",
                0),
            0u)
      << d.unverified[0].ToString();
}

TEST(SnapshotDiffVisibilityTest, InitializedOnlyComparesInitializationNotPfns) {
  GuestMemfd a = Private(PageVisibility::kInitializedOnly), b = a;
  SnapshotDiff same = DiffOf(a, b);
  EXPECT_TRUE(same.differences.empty());
  EXPECT_EQ(same.counts.pages_unverified, kPages);
  ASSERT_EQ(same.unverified.size(), 1u);
  EXPECT_NE(same.unverified[0].parts[0].find("4096 pages: which are initialized compared, not "
                                             "their PFNs or contents"),
            std::string::npos);
  // A punch of pages 50-99 is seen (they are no longer initialized).
  b.folios = {FolioExtent{0, kPfnUnknown, 50, 0, kFolioUptodate}};
  SnapshotDiff punched = DiffOf(a, b);
  ASSERT_EQ(punched.differences.size(), 1u);
  EXPECT_EQ(punched.differences[0].ToString(),
            "gmem 0x3 'gmem_private': folios pages 50-99: expected initialized (PFN not "
            "observable), found not initialized");
  EXPECT_EQ(punched.counts.pages_different, 50u);
  EXPECT_EQ(punched.counts.pages_unverified, kPages - 50);
  EXPECT_EQ(punched.counts.pages_equal, 0u);
  // Flags of a page there are not observable either: not a difference.
  b = a;
  b.folios.Mutable()[0].flags = kFolioUptodate | kFolioDirty;
  EXPECT_TRUE(DiffOf(a, b).differences.empty());
}

TEST(SnapshotDiffVisibilityTest, FullRangesAreComparedAndCountedEqual) {
  GuestMemfd a = Gmem();  // kFull (empty list): every page compared
  SnapshotDiff d = DiffOf(a, a);
  EXPECT_TRUE(d.fully_verified());
  EXPECT_EQ(d.counts.pages_equal, 4096u);
  // Half observed in full, half not at all: a PFN change is a difference
  // only in the first half.
  a.visibility = {VisibilityRange{0, 2048, PageVisibility::kFull},
                  VisibilityRange{2048, 2048, PageVisibility::kNone}};
  a.hashes = {ContentHash{0, 2048, 1}, ContentHash{2048, 2048, 2}};
  GuestMemfd b = a;
  b.folios.Mutable()[1].first_pfn = 7;
  b.hashes[1].xxh3 = 3;
  d = DiffOf(a, b);
  EXPECT_TRUE(d.differences.empty()) << d.differences[0].ToString();
  EXPECT_EQ(d.counts.pages_equal, 2048u);
  EXPECT_EQ(d.counts.pages_unverified, 2048u);
  b.folios.Mutable()[0].first_pfn = 7;
  d = DiffOf(a, b);
  ASSERT_EQ(d.differences.size(), 1u);
  EXPECT_EQ(d.differences[0].field, "folios pages 0-2047");
  // The found side saw less than the expected side: the worse of the two counts.
  b = a;
  b.visibility = {VisibilityRange{0, 4096, PageVisibility::kNone}};
  d = DiffOf(Gmem(), b);
  EXPECT_TRUE(d.differences.empty());
  EXPECT_EQ(d.counts.pages_unverified, 4096u);
}

Mempolicy Policy(int32_t mode, uint64_t nodes) {
  Mempolicy p;
  p.mode = mode;
  if (nodes) p.nodemask = {nodes};
  return p;
}

TEST(SnapshotDiffPolicyTest, VmmMappingPolicyChangeIsADifference) {
  // numa_maps: "7f118de1e000 bind:0 file=anon_inode:[kvm-gmem] dirty=2047 N0=2047", then the
  // VMM re-mbinds it interleave:0.
  GuestMemfd a = Private(PageVisibility::kNone), b = a;
  a.mapping_policies = {MappingPolicy{0, kPages, 4242, 0x7f118de1e000, Policy(2, 1)}};
  b.mapping_policies = {MappingPolicy{0, kPages, 4242, 0x7f118de1e000, Policy(3, 1)}};
  SnapshotDiff d = DiffOf(a, b);
  ASSERT_EQ(d.differences.size(), 1u);
  EXPECT_EQ(d.differences[0].ToString(),
            "gmem 0x3 'gmem_private': policy of VMM mapping pages 0-4095: expected bind "
            "nodes=0 (pid 4242 at 0x7f118de1e000), found interleave nodes=0 (pid 4242 at "
            "0x7f118de1e000)");
  EXPECT_EQ(VerdictExitCode(VerdictOf(d)), 1);
  // Mapped again elsewhere with the same policy: equal (where it is mapped is informational).
  b.mapping_policies = {MappingPolicy{0, kPages, 4243, 0x7f0000000000, Policy(2, 1)}};
  EXPECT_TRUE(DiffOf(a, b).differences.empty());
  // A mapping gone, one new.
  b.mapping_policies.clear();
  d = DiffOf(a, b);
  ASSERT_EQ(d.differences.size(), 1u);
  EXPECT_EQ(d.differences[0].found, "no such mapping");
  // After a restore khod cannot see the VMM's new mappings: not verified, not equal.
  DiffOptions restored;
  restored.compare_vmm_policies = false;
  d = DiffOf(a, b, restored);
  EXPECT_TRUE(d.differences.empty());
  ASSERT_EQ(d.unverified.size(), 1u);
  EXPECT_NE(d.unverified[0].ToString().find("NUMA policy of 1 VMM mapping(s): handed to the VMM"),
            std::string::npos);
  // khod's own capture of the restored file knows no VMM: still handed over, not "not read".
  b.policy_source = PolicySource::kUnknown;
  d = DiffOf(a, b, restored);
  ASSERT_EQ(d.unverified.size(), 1u);
  EXPECT_NE(d.unverified[0].ToString().find("handed to the VMM"), std::string::npos);
  EXPECT_EQ(d.unverified[0].ToString().find("not read"), std::string::npos);
}

// A Linux 6.18 guest_memfd has no policy of its own: it allocates a page by the
// policy of the thread that faults or fallocates it (filemap_grab_folio passes
// no VMA), so its VMM mappings' policies, equal on both sides, say nothing of
// where its new pages go. A HugeTLB memfd's mapping policies do place the pages
// faulted through them, and a shmem memfd's shared policy places every page.
TEST(SnapshotDiffPolicyTest, AGuestMemfdWithNoSharedPolicyHasItsPlacementNotVerified) {
  GuestMemfd a = Private(PageVisibility::kFull);
  a.flags = 3;
  a.flags_known = 3;
  a.mapping_policies = {MappingPolicy{0, kPages, 4242, 0x7f118de1e000, Policy(2, 1)}};
  SnapshotDiff d = DiffOf(a, a);
  EXPECT_TRUE(d.differences.empty());
  ASSERT_EQ(d.unverified.size(), 1u);
  EXPECT_EQ(d.unverified[0].kinds,
            std::vector<UnverifiedKind>{UnverifiedKind::kNumaPlacementByAllocator});
  EXPECT_EQ(d.unverified[0].pages, 0u);
  EXPECT_EQ(VerdictExitCode(VerdictOf(d)), 3);
  // Not mapped by its VMM at all (no mapping policy): still not verified.
  a.mapping_policies.clear();
  d = DiffOf(a, a);
  ASSERT_EQ(d.unverified.size(), 1u);
  EXPECT_EQ(d.unverified[0].kinds,
            std::vector<UnverifiedKind>{UnverifiedKind::kNumaPlacementByAllocator});
  // After a restore: handed to the VMM, and still not where its pages go.
  a.mapping_policies = {MappingPolicy{0, kPages, 4242, 0x7f118de1e000, Policy(2, 1)}};
  DiffOptions restored;
  restored.compare_vmm_policies = false;
  d = DiffOf(a, a, restored);
  ASSERT_EQ(d.unverified.size(), 1u);
  EXPECT_EQ(d.unverified[0].kinds,
            (std::vector<UnverifiedKind>{UnverifiedKind::kNumaPlacementByAllocator,
                                         UnverifiedKind::kNumaPolicyHandedToVmm}));
  // A HugeTLB memfd's mapping policies are compared and place its pages.
  GuestMemfd h = a;
  h.kind = FileKind::kHugetlbMemfd;
  h.flags = 0;
  h.flags_known = ~0ull;
  EXPECT_TRUE(DiffOf(h, h).fully_verified()) << UnverifiedText(DiffOf(h, h).unverified);
  // A guest_memfd whose policy is its own (a shared policy, Linux 6.19) is compared.
  GuestMemfd own = a;
  own.policy_source = PolicySource::kInode;
  own.mapping_policies.clear();
  own.policy = Policy(2, 1);
  EXPECT_TRUE(DiffOf(own, own).fully_verified());
}

// A nodemask's trailing zero words name no node: a blob that keeps them (a
// reader trims them; a hand-made or older blob need not) holds the same
// policy, never a difference whose two sides print the same.
TEST(SnapshotDiffPolicyTest, TrailingZeroNodemaskWordsAreTheSameNodes) {
  GuestMemfd a = Gmem(), b = a;
  a.policy = Policy(2, 1);
  b.policy = Policy(2, 1);
  b.policy.nodemask.push_back(0);
  EXPECT_TRUE(DiffOf(a, b).differences.empty());
  b.policy.nodemask.back() = 1;  // node 64
  ASSERT_EQ(DiffOf(a, b).differences.size(), 1u);
  EXPECT_EQ(DiffOf(a, b).differences[0].found, "bind nodes=0,64");
}

TEST(SnapshotDiffPolicyTest, SourceChangeDiffersUnknownIsNotVerified) {
  GuestMemfd a = Gmem(), b = a;
  a.policy = Policy(2, 1);
  b.policy = Policy(2, 1);
  EXPECT_TRUE(DiffOf(a, b).fully_verified());
  b.policy = Policy(3, 1);
  ASSERT_EQ(DiffOf(a, b).differences.size(), 1u);
  EXPECT_EQ(DiffOf(a, b).differences[0].field, "policy");
  b.policy_source = PolicySource::kVmmMappings;
  ASSERT_EQ(DiffOf(a, b).differences.size(), 1u);
  EXPECT_EQ(DiffOf(a, b).differences[0].field, "policy_source");
  b.policy_source = PolicySource::kUnknown;
  SnapshotDiff d = DiffOf(a, b);
  EXPECT_TRUE(d.differences.empty());
  ASSERT_EQ(d.unverified.size(), 1u);
  EXPECT_EQ(d.unverified[0].parts, std::vector<std::string>{"NUMA policy not read now"});
  EXPECT_EQ(d.unverified[0].kinds, std::vector<UnverifiedKind>{UnverifiedKind::kNumaPolicyUnread});
  EXPECT_EQ(d.unverified[0].pages, 0u);
  // Where the capture said why, the part says it too.
  b.policy_unread = "/proc/42/maps is empty: the process has exited";
  EXPECT_EQ(DiffOf(a, b).unverified[0].parts,
            std::vector<std::string>{
                "NUMA policy not read now: /proc/42/maps is empty: the process has exited"});
  a.policy_unread = "a note of a policy that was read";  // kInode: not said
  EXPECT_EQ(DiffOf(a, b).unverified[0].parts,
            std::vector<std::string>{
                "NUMA policy not read now: /proc/42/maps is empty: the process has exited"});
}

// A home node no capture saw is never "equal" and never "different": it is
// named not verified; one both saw is compared.
TEST(SnapshotDiffPolicyTest, AHomeNodeNotSeenIsNotVerifiedOneBothSawIsCompared) {
  GuestMemfd a = Gmem(), b = a;
  a.policy = Policy(2, 1);  // bind node 0, as get_mempolicy reads it
  a.policy.home_node_seen = false;
  b.policy = a.policy;
  SnapshotDiff d = DiffOf(a, b);
  EXPECT_TRUE(d.differences.empty());
  ASSERT_EQ(d.unverified.size(), 1u);
  EXPECT_EQ(d.unverified[0].kinds,
            std::vector<UnverifiedKind>{UnverifiedKind::kNumaHomeNodeUnseen});
  EXPECT_NE(d.unverified[0].parts[0].find("home node of NUMA policy bind nodes=0 home=? "
                                          "not seen by either capture"),
            std::string::npos)
      << d.unverified[0].parts[0];
  EXPECT_EQ(VerdictExitCode(VerdictOf(d)), 3);
  // Seen on one side only: still not verified, naming the side.
  b.policy.home_node_seen = true;
  b.policy.home_node = 0;
  d = DiffOf(a, b);
  EXPECT_TRUE(d.differences.empty());
  ASSERT_EQ(d.unverified.size(), 1u);
  EXPECT_NE(d.unverified[0].parts[0].find("not seen by the first capture"), std::string::npos);
  // Seen on both sides: compared.
  a.policy = b.policy;
  EXPECT_TRUE(DiffOf(a, b).fully_verified());
  b.policy.home_node = 1;
  d = DiffOf(a, b);
  ASSERT_EQ(d.differences.size(), 1u);
  EXPECT_EQ(d.differences[0].field, "policy");
  // Other fields still differ whatever the home node.
  b.policy = Policy(2, 3);
  b.policy.home_node_seen = false;
  ASSERT_EQ(DiffOf(a, b).differences.size(), 1u);
}

TEST(SnapshotDiffPolicyTest, VmmMappingHomeNodesNotSeenAreCountedNotVerified) {
  GuestMemfd a = Private(PageVisibility::kNone), b = a;
  MappingPolicy m{0, kPages, 4242, 0x7f118de1e000, Policy(2, 1)};
  m.policy.home_node = 0;  // read by the BPF VMA reader
  a.mapping_policies = {m};
  m.policy.home_node = -1;  // read from numa_maps (no BPF now)
  m.policy.home_node_seen = false;
  b.mapping_policies = {m};
  SnapshotDiff d = DiffOf(a, b);
  EXPECT_TRUE(d.differences.empty());
  ASSERT_EQ(d.unverified.size(), 1u);
  EXPECT_EQ(d.unverified[0].kinds,
            (std::vector<UnverifiedKind>{UnverifiedKind::kPagesInvisible,
                                         UnverifiedKind::kNumaPlacementByAllocator,
                                         UnverifiedKind::kNumaHomeNodeUnseen}))
      << d.unverified[0].ToString();
  EXPECT_NE(d.unverified[0].ToString().find(
                "home node of the NUMA policy of 1 VMM mapping(s) not seen now"),
            std::string::npos)
      << d.unverified[0].ToString();
  // Both seen, different: a difference.
  b.mapping_policies[0].policy.home_node_seen = true;
  b.mapping_policies[0].policy.home_node = 1;
  ASSERT_EQ(DiffOf(a, b).differences.size(), 1u);
  // Two mappings of one range: home nodes 1 and 0 first, then one not seen and home node 1.
  // Paired exactly first (1 with 1), the other pair is not verified, never different.
  MappingPolicy one = m, zero = m, unseen = m;
  one.policy.home_node_seen = zero.policy.home_node_seen = true;
  one.policy.home_node = 1;
  zero.policy.home_node = 0;
  unseen.policy.home_node = -1;
  unseen.policy.home_node_seen = false;
  a.mapping_policies = {one, zero};
  b.mapping_policies = {unseen, one};
  d = DiffOf(a, b);
  EXPECT_TRUE(d.differences.empty()) << d.differences[0].ToString();
  EXPECT_NE(d.unverified.at(0).ToString().find("home node of the NUMA policy of 1 VMM mapping(s)"),
            std::string::npos)
      << d.unverified[0].ToString();
  // An interleave policy holds no home node: nothing unverified about it.
  a.mapping_policies = {MappingPolicy{0, kPages, 4242, 0x7f118de1e000, Policy(3, 1)}};
  b.mapping_policies = a.mapping_policies;
  for (const UnverifiedGmem& u : DiffOf(a, b).unverified)
    for (UnverifiedKind k : u.kinds) EXPECT_NE(k, UnverifiedKind::kNumaHomeNodeUnseen);
}

// One VMA the kernel split in two (an mprotect of half, say) with the policy
// unchanged: the same process, contiguous addresses, one policy. Every page
// has the policy it had: no difference.
TEST(SnapshotDiffPolicyTest, AMappingSplitInTwoWithItsPolicyIsTheSameMapping) {
  GuestMemfd a = Private(PageVisibility::kNone), b = a;
  constexpr uint64_t kAt = 0x7f118de1e000;
  a.mapping_policies = {MappingPolicy{0, kPages, 4242, kAt, Policy(2, 1)}};
  b.mapping_policies = {
      MappingPolicy{0, kPages / 2, 4242, kAt, Policy(2, 1)},
      MappingPolicy{kPages / 2, kPages / 2, 4242, kAt + kPages / 2 * 4096, Policy(2, 1)}};
  SnapshotDiff d = DiffOf(a, b);
  EXPECT_TRUE(d.differences.empty()) << d.differences[0].ToString();
  d = DiffOf(b, a);
  EXPECT_TRUE(d.differences.empty()) << d.differences[0].ToString();
  // Half of it re-bound elsewhere: that half differs, named over its own pages.
  b.mapping_policies[1].policy = Policy(2, 2);
  d = DiffOf(a, b);
  ASSERT_FALSE(d.differences.empty());
  EXPECT_EQ(VerdictOf(d), Verdict::kDifferent);
}

// One guest-RAM mapping an mprotect of its middle split into 3 VMAs is one mapping in what is
// handed to the VMM, as it is in the compare and in Restore's note.
TEST(SnapshotDiffPolicyTest, AMappingSplitInThreeIsOneMappingHandedToTheVmm) {
  GuestMemfd a = Private(PageVisibility::kNone);
  constexpr uint64_t kAt = 0x7f118de1e000;
  a.mapping_policies = {MappingPolicy{0, 1024, 4242, kAt, Policy(2, 1)},
                        MappingPolicy{1024, 2048, 4242, kAt + 1024 * 4096, Policy(2, 1)},
                        MappingPolicy{3072, 1024, 4242, kAt + 3072 * 4096, Policy(2, 1)}};
  GuestMemfd b = a;
  b.mapping_policies.clear();
  DiffOptions restored;
  restored.compare_vmm_policies = false;
  SnapshotDiff d = DiffOf(a, b, restored);
  EXPECT_TRUE(d.differences.empty());
  ASSERT_EQ(d.unverified.size(), 1u);
  EXPECT_NE(d.unverified[0].ToString().find("NUMA policy of 1 VMM mapping(s): handed to the VMM"),
            std::string::npos)
      << d.unverified[0].ToString();
  // Two mappings (another process maps it too): 2, each however it was cut.
  a.mapping_policies.insert(a.mapping_policies.begin() + 1,
                            MappingPolicy{0, kPages, 4243, 0x7f0000000000, Policy(3, 1)});
  d = DiffOf(a, b, restored);
  ASSERT_EQ(d.unverified.size(), 1u);
  EXPECT_NE(d.unverified[0].ToString().find("NUMA policy of 2 VMM mapping(s): handed to the VMM"),
            std::string::npos)
      << d.unverified[0].ToString();
}

// Two mappings of one range, each side seeing one home node and not the
// other's. Paired as both saw them agree, the two "not seen" ones are not
// paired with each other (which would leave home 0 against home 1): not
// verified, never different.
TEST(SnapshotDiffPolicyTest, MappingsOfOneRangeArePairedSoThatAllBothSawAgrees) {
  GuestMemfd a = Private(PageVisibility::kNone), b = a;
  MappingPolicy unseen{0, kPages, 4242, 0x7f0000000000, Policy(2, 1)};
  unseen.policy.home_node_seen = false;
  MappingPolicy zero{0, kPages, 4243, 0x7f1000000000, Policy(2, 1)};
  zero.policy.home_node = 0;
  MappingPolicy one = zero;
  one.policy.home_node = 1;
  a.mapping_policies = {unseen, zero};
  b.mapping_policies = {unseen, one};
  SnapshotDiff d = DiffOf(a, b);
  EXPECT_TRUE(d.differences.empty()) << d.differences[0].ToString();
  EXPECT_EQ(VerdictOf(d), Verdict::kNotVerified);
  ASSERT_EQ(d.unverified.size(), 1u);
  EXPECT_NE(d.unverified[0].ToString().find("home node of the NUMA policy of 2 VMM mapping(s) "
                                            "not seen by one capture or the other"),
            std::string::npos)
      << d.unverified[0].ToString();
  // Where no pairing agrees on all both saw (0 and 1 against 2 and one not seen), it differs.
  MappingPolicy two = zero;
  two.policy.home_node = 2;
  a.mapping_policies = {zero, one};
  b.mapping_policies = {unseen, two};
  d = DiffOf(a, b);
  ASSERT_EQ(d.differences.size(), 1u);
  EXPECT_EQ(VerdictOf(d), Verdict::kDifferent);
}

TEST(SnapshotDiffFlagsTest, UnknownFlagBitsAreNotVerifiedAcrossFiles) {
  GuestMemfd a = Private(PageVisibility::kNone), b = a;
  // MMAP seen (ENODEV: 0), INIT_SHARED not: same file, flags cannot have changed.
  const SnapshotDiff same_file = DiffOf(a, b);
  EXPECT_TRUE(same_file.differences.empty());
  ASSERT_EQ(same_file.unverified.size(), 1u);
  for (const auto& p : same_file.unverified[0].parts)
    EXPECT_EQ(p.find("creation flag"), std::string::npos) << p;
  DiffOptions other_file;
  other_file.compare_inodes = false;
  const SnapshotDiff across = DiffOf(a, b, other_file);
  ASSERT_EQ(across.unverified.size(), 1u);
  const auto& parts = across.unverified[0].parts;
  EXPECT_NE(std::find(parts.begin(), parts.end(), "creation flag bits 0x2 not shown by the kernel"),
            parts.end());
  // A known bit that differs is a difference (MMAP found on one side).
  b.flags = 1;
  ASSERT_EQ(DiffOf(a, b).differences.size(), 1u);
  EXPECT_EQ(DiffOf(a, b).differences[0].ToString(),
            "gmem 0x3 'gmem_private': flags: expected 0x0 (bits 0x2 not known), found 0x1 (bits "
            "0x2 not known)");
}

// A capture without CAP_SYS_ADMIN (or without /proc/kpageflags) sees which
// pages are resident but not their PFNs: pagemap shows PFN 0, so BuddyScanner
// records them with first_pfn kPfnUnknown and flags 0 (never read), in a file
// still observed kFull. 8192 pages, the first 4096 resident.
GuestMemfd WithoutPfns() {
  GuestMemfd g = Gmem();
  g.size = 8192 * 4096;
  g.folios = {FolioExtent{0, kPfnUnknown, 4096, 0, 0}};
  return g;
}

GuestMemfd WithPfns() {
  GuestMemfd g = WithoutPfns();
  g.folios = {FolioExtent{0, 1000, 2048, 0, kFolioUptodate},
              FolioExtent{2048, 9000, 2048, 0, kFolioUptodate}};
  return g;
}

TEST(SnapshotDiffPfnTest, BothSidesPfnUnknownIsNotVerifiedNeverEqual) {
  const GuestMemfd a = WithoutPfns(), b = a;
  const SnapshotDiff d = DiffOf(a, b);
  EXPECT_TRUE(d.differences.empty());
  EXPECT_FALSE(d.fully_verified());
  EXPECT_EQ(VerdictOf(d), Verdict::kNotVerified);
  EXPECT_EQ(VerdictExitCode(VerdictOf(d)), 3);
  // The resident pages are unverified; the holes both saw are equal.
  EXPECT_EQ(d.counts.pages_unverified, 4096u);
  EXPECT_EQ(d.counts.pages_equal, 4096u);
  EXPECT_EQ(d.counts.pages_different, 0u);
  ASSERT_EQ(d.unverified.size(), 1u);
  EXPECT_EQ(d.unverified[0].pages, 4096u);
  EXPECT_EQ(d.unverified[0].ToString(),
            "gmem 0x2a 'ram0': 4096 pages: resident on both sides compared, not their PFNs or "
            "folio flags (PFN not seen by either capture: pagemap shows PFNs only to a process "
            "with CAP_SYS_ADMIN, and folio flags are read from /proc/kpageflags by PFN)");
  // The same through a whole snapshot: not "equal".
  const SnapshotDiff s = DiffSnapshots(Snap(a), Snap(b));
  EXPECT_EQ(VerdictOf(s), Verdict::kNotVerified);
  EXPECT_EQ(s.counts.pages_unverified, 4096u);
  // Lists that are one array (a capture that took its baseline's) too.
  GuestMemfd c = a;
  ASSERT_TRUE(c.folios.SharesArrayWith(a.folios));
  EXPECT_EQ(VerdictOf(DiffOf(a, c)), Verdict::kNotVerified);
}

TEST(SnapshotDiffPfnTest, OneSideUnknownIsNotVerifiedNeverDifferent) {
  const GuestMemfd known = WithPfns(), unknown = WithoutPfns();
  SnapshotDiff d = DiffOf(known, unknown);
  EXPECT_TRUE(d.differences.empty()) << d.differences[0].ToString();
  EXPECT_EQ(VerdictExitCode(VerdictOf(d)), 3);
  EXPECT_EQ(d.counts.pages_unverified, 4096u);
  EXPECT_EQ(d.counts.pages_different, 0u);
  EXPECT_EQ(d.counts.pages_equal, 4096u);
  ASSERT_EQ(d.unverified.size(), 1u);
  EXPECT_NE(d.unverified[0].ToString().find("4096 pages: resident on both sides compared, not "
                                            "their PFNs or folio flags (PFN not seen by now: "),
            std::string::npos)
      << d.unverified[0].ToString();
  d = DiffOf(unknown, known);
  EXPECT_TRUE(d.differences.empty()) << d.differences[0].ToString();
  EXPECT_EQ(VerdictExitCode(VerdictOf(d)), 3);
  EXPECT_EQ(d.counts.pages_unverified, 4096u);
  ASSERT_EQ(d.unverified.size(), 1u);
  EXPECT_NE(d.unverified[0].ToString().find("(PFN not seen by the first capture: "),
            std::string::npos)
      << d.unverified[0].ToString();
  // Half the pages with a PFN on both sides: those are compared, and equal.
  GuestMemfd half = WithPfns();
  half.folios = {FolioExtent{0, 1000, 2048, 0, kFolioUptodate},
                 FolioExtent{2048, kPfnUnknown, 2048, 0, 0}};
  d = DiffOf(known, half);
  EXPECT_TRUE(d.differences.empty());
  EXPECT_EQ(d.counts.pages_equal, 4096u + 2048u);
  EXPECT_EQ(d.counts.pages_unverified, 2048u);
  // And a moved PFN there is still a difference.
  half.folios.Mutable()[0].first_pfn = 7;
  d = DiffOf(known, half);
  ASSERT_EQ(d.differences.size(), 1u);
  EXPECT_EQ(d.differences[0].field, "folios pages 0-2047");
  EXPECT_EQ(d.counts.pages_different, 2048u);
  EXPECT_EQ(d.counts.pages_unverified, 2048u);
}

TEST(SnapshotDiffPfnTest, KnownAndEqualIsEqual) {
  const GuestMemfd a = WithPfns(), b = a;
  const SnapshotDiff d = DiffOf(a, b);
  EXPECT_TRUE(d.fully_verified());
  EXPECT_EQ(VerdictExitCode(VerdictOf(d)), 0);
  EXPECT_EQ(d.counts.pages_equal, 8192u);
  EXPECT_EQ(d.counts.pages_unverified, 0u);
  // Split differently, same pages at the same PFNs: still equal.
  GuestMemfd c = a;
  c.folios = {FolioExtent{0, 1000, 1000, 0, kFolioUptodate},
              FolioExtent{1000, 2000, 1048, 0, kFolioUptodate}, a.folios[1]};
  EXPECT_TRUE(DiffOf(a, c).fully_verified());
}

TEST(SnapshotDiffPfnTest, PresenceDifferenceWithoutPfnsIsStillADifference) {
  const GuestMemfd a = WithoutPfns();
  GuestMemfd b = a;
  // Pages 100-399 punched; 4096-4099 newly resident.
  b.folios = {FolioExtent{0, kPfnUnknown, 100, 0, 0}, FolioExtent{400, kPfnUnknown, 3700, 0, 0}};
  SnapshotDiff d = DiffOf(a, b);
  ASSERT_EQ(d.differences.size(), 2u);
  EXPECT_EQ(d.differences[0].ToString(),
            "gmem 0x2a 'ram0': folios pages 100-399: expected resident pfn unknown order 0, found "
            "hole");
  EXPECT_EQ(d.differences[1].field, "folios pages 4096-4099");
  EXPECT_EQ(d.differences[1].expected, "hole");
  EXPECT_EQ(VerdictExitCode(VerdictOf(d)), 1);
  EXPECT_EQ(d.counts.pages_different, 304u);
  EXPECT_EQ(d.counts.pages_unverified, 4096u - 300u);
  EXPECT_EQ(d.counts.pages_equal, 8192u - 304u - (4096u - 300u));
  // The same against a side that saw PFNs.
  d = DiffOf(WithPfns(), b);
  ASSERT_EQ(d.differences.size(), 2u);
  EXPECT_EQ(d.differences[0].field, "folios pages 100-399");
  EXPECT_EQ(d.counts.pages_different, 304u);
  EXPECT_EQ(d.counts.pages_unverified, 4096u - 300u);
}

TEST(SnapshotDiffPfnTest, UnreadFlagsOfUnknownPfnsAreNotCompared) {
  // Flags 0 where no PFN was seen were never read: against flags read on the
  // other side they are neither equal nor a difference.
  GuestMemfd a = WithPfns(), b = WithoutPfns();
  a.folios.Mutable()[0].flags = kFolioUptodate | kFolioDirty;
  SnapshotDiff d = DiffOf(a, b);
  EXPECT_TRUE(d.differences.empty()) << d.differences[0].ToString();
  EXPECT_EQ(d.counts.pages_unverified, 4096u);
  // Nor does comparing flags without PFNs make them compared.
  DiffOptions flags_only;
  flags_only.compare_pfns = false;
  d = DiffOf(WithoutPfns(), WithoutPfns(), flags_only);
  EXPECT_EQ(VerdictOf(d), Verdict::kNotVerified);
  EXPECT_EQ(d.counts.pages_unverified, 4096u);
  // A HugeTLB file's order is its hstate's, known without a PFN: a change is a difference.
  GuestMemfd h = WithoutPfns(), s = h;
  h.folios = {FolioExtent{0, kPfnUnknown, 8, 9, 0}};
  s.folios = {FolioExtent{0, kPfnUnknown, 4096, 0, 0}};
  d = DiffOf(h, s);
  ASSERT_EQ(d.differences.size(), 1u);
  EXPECT_EQ(d.differences[0].field, "folios pages 0-4095");
}

// Every part not verified names its kind, which a fleet's policy matches
// (never the text): one per part, in order, and the page kinds apart.
TEST(SnapshotDiffKindsTest, EveryUnverifiedPartNamesItsKind) {
  const std::pair<PageVisibility, UnverifiedKind> pages[] = {
      {PageVisibility::kNone, UnverifiedKind::kPagesInvisible},
      {PageVisibility::kInitializedOnly, UnverifiedKind::kPagesPrivate}};
  for (const auto& [visibility, kind] : pages) {
    GuestMemfd a = Private(visibility);
    DiffOptions other_file;
    other_file.compare_inodes = false;  // the creation flags are named too
    const SnapshotDiff d = DiffOf(a, a, other_file);
    ASSERT_EQ(d.unverified.size(), 1u);
    const UnverifiedGmem& u = d.unverified[0];
    ASSERT_EQ(u.kinds.size(), u.parts.size());
    EXPECT_EQ(u.kinds[0], kind) << u.parts[0];
    for (size_t i = 0; i < u.parts.size(); ++i) {
      const bool flags = u.parts[i].find("creation flag bits") == 0;
      EXPECT_EQ(u.kinds[i] == UnverifiedKind::kCreationFlags, flags) << u.parts[i];
    }
  }
}

// FORMAT.md does not ask for maximal extents: one capture holds [0, 100) as
// two extents at contiguous PFNs, hashed per extent, another as one extent,
// hashed once. The pages, PFNs and flags are the same; no hash of one side
// lies over a range the other hashed, so the contents were compared over
// nothing: not verified, never a difference.
GuestMemfd SplitIn(uint64_t first_extent_pages) {
  GuestMemfd g;
  g.token = 0x2a;
  g.name = "ram0";
  g.kind = FileKind::kShmemMemfd;
  g.size = 100 * 4096;
  g.visibility = {VisibilityRange{0, 100, PageVisibility::kFull}};
  if (first_extent_pages < 100) {
    g.folios = {FolioExtent{0, 1000, static_cast<uint32_t>(first_extent_pages), 0, kFolioUptodate},
                FolioExtent{first_extent_pages, 1000 + first_extent_pages,
                            static_cast<uint32_t>(100 - first_extent_pages), 0, kFolioUptodate}};
    g.hashes = {ContentHash{0, first_extent_pages, 0x11},
                ContentHash{first_extent_pages, 100 - first_extent_pages, 0x22}};
  } else {
    g.folios = {FolioExtent{0, 1000, 100, 0, kFolioUptodate}};
    g.hashes = {ContentHash{0, 100, 0x33}};
  }
  return g;
}

TEST(SnapshotDiffHashTest, HashesOverRangesCutOtherwiseAreNotComparedWherePfnsWereSeen) {
  const GuestMemfd split = SplitIn(50), joined = SplitIn(100);
  for (const auto& [a, b] : {std::pair(split, joined), std::pair(joined, split)}) {
    const SnapshotDiff d = DiffSnapshots(Snap(a), Snap(b));
    EXPECT_TRUE(d.differences.empty()) << d.differences[0].ToString();
    EXPECT_EQ(VerdictOf(d), Verdict::kNotVerified);
    EXPECT_EQ(VerdictExitCode(VerdictOf(d)), 3);
    EXPECT_EQ(d.counts.pages_different, 0u);
    EXPECT_EQ(d.counts.pages_unverified, 100u);
    EXPECT_EQ(d.counts.pages_equal, 0u);
    ASSERT_EQ(d.unverified.size(), 1u);
    EXPECT_EQ(d.unverified[0].pages, 100u);
    EXPECT_NE(d.unverified[0].ToString().find("contents of 100 pages hashed over ranges cut "
                                              "otherwise by the two captures: not compared"),
              std::string::npos)
        << d.unverified[0].ToString();
  }
  // Hashed over the same ranges, they are compared: equal, or a difference.
  EXPECT_TRUE(DiffOf(split, split).fully_verified());
  GuestMemfd changed = split;
  changed.hashes[1].xxh3 = 0x23;
  const SnapshotDiff d = DiffOf(split, changed);
  ASSERT_EQ(d.differences.size(), 1u);
  EXPECT_EQ(d.differences[0].ToString(),
            "gmem 0x2a 'ram0': contents pages 50-99: expected xxh3 0x22, found xxh3 0x23");
  EXPECT_EQ(d.counts.pages_different, 50u);
  EXPECT_EQ(d.counts.pages_equal, 50u);
}

// One page's dirty flag changed inside a 1000-page extent: the capture cuts
// the extent in three and hashes each. The page is different; the contents
// of the other 999 were compared with nothing: not verified, not different.
TEST(SnapshotDiffHashTest, AFlagChangeIsOnePageDifferentNotItsExtentsContents) {
  GuestMemfd a;
  a.token = 0x2a;
  a.name = "ram0";
  a.kind = FileKind::kShmemMemfd;
  a.size = 1000 * 4096;
  a.visibility = {VisibilityRange{0, 1000, PageVisibility::kFull}};
  a.folios = {FolioExtent{0, 1000, 1000, 0, kFolioUptodate}};
  a.hashes = {ContentHash{0, 1000, 0x10}};
  GuestMemfd b = a;
  b.folios = {FolioExtent{0, 1000, 500, 0, kFolioUptodate},
              FolioExtent{500, 1500, 1, 0, kFolioUptodate | kFolioDirty},
              FolioExtent{501, 1501, 499, 0, kFolioUptodate}};
  b.hashes = {ContentHash{0, 500, 0x20}, ContentHash{500, 1, 0x21}, ContentHash{501, 499, 0x22}};
  const SnapshotDiff d = DiffOf(a, b);
  ASSERT_EQ(d.differences.size(), 1u);
  EXPECT_EQ(d.differences[0].field, "folios page 500");
  EXPECT_EQ(VerdictOf(d), Verdict::kDifferent);
  EXPECT_EQ(d.counts.pages_different, 1u);
  EXPECT_EQ(d.counts.pages_unverified, 999u);
  EXPECT_EQ(d.counts.pages_equal, 0u);
  ASSERT_EQ(d.unverified.size(), 1u);
  EXPECT_EQ(d.unverified[0].pages, 999u);
}

}  // namespace
}  // namespace khod

namespace khod {
namespace {

// A PFN kept in place says where the contents are, not what they hold: the
// contents of a kernel file's initialized pages observed in full that neither
// capture hashed, or one only, are named and counted not verified (their PFN
// and flags were compared, not what they hold), never called equal and never
// a difference.
TEST(SnapshotDiffContentsTest, ContentsNoCaptureHashedAreNotVerifiedNeverEqual) {
  GuestMemfd a = Gmem();
  a.hashes.clear();
  a.folios = FolioList();
  a.folios.push_back(FolioExtent{0, 1000, 100, 0, kFolioUptodate});
  a.folios.push_back(FolioExtent{200, 5000, 50, 0, kFolioUptodate});
  SnapshotDiff d = DiffSnapshots(Snapshot{{}, {}, {a}}, Snapshot{{}, {}, {a}});
  EXPECT_TRUE(d.differences.empty());
  EXPECT_EQ(VerdictExitCode(VerdictOf(d)), 3);
  ASSERT_EQ(d.unverified.size(), 1u);
  EXPECT_EQ(d.unverified[0].kinds, std::vector<UnverifiedKind>{UnverifiedKind::kContentsNotHashed});
  EXPECT_EQ(d.unverified[0].ToString(),
            "gmem 0x2a 'ram0': contents of 150 initialized pages not compared: hashed by neither "
            "capture (hash both: khoctl attach --hash, or khoctl capture --hash offline)");
  EXPECT_EQ(d.counts.pages_equal, 4096u - 150u);  // the holes: equal, nothing to hold
  EXPECT_EQ(d.counts.pages_unverified, 150u);

  // Hashed on one side only: not compared, never a difference.
  GuestMemfd hashed = a;
  hashed.hashes = {ContentHash{0, 100, 1}, ContentHash{200, 50, 2}};
  d = DiffSnapshots(Snapshot{{}, {}, {hashed}}, Snapshot{{}, {}, {a}});
  EXPECT_TRUE(d.differences.empty());
  ASSERT_EQ(d.unverified.size(), 1u);
  EXPECT_NE(d.unverified[0].ToString().find("150 initialized pages not compared: hashed by the "
                                            "first capture only"),
            std::string::npos)
      << d.unverified[0].ToString();
  d = DiffSnapshots(Snapshot{{}, {}, {a}}, Snapshot{{}, {}, {hashed}});
  ASSERT_EQ(d.unverified.size(), 1u);
  EXPECT_NE(d.unverified[0].ToString().find("hashed now only"), std::string::npos);

  // A page found different is a difference, not also uncompared.
  GuestMemfd moved = a;
  moved.folios = FolioList();
  moved.folios.push_back(FolioExtent{0, 1000, 100, 0, kFolioUptodate});
  moved.folios.push_back(FolioExtent{200, 7000, 50, 0, kFolioUptodate});
  d = DiffSnapshots(Snapshot{{}, {}, {a}}, Snapshot{{}, {}, {moved}});
  EXPECT_FALSE(d.differences.empty());
  ASSERT_EQ(d.unverified.size(), 1u);
  EXPECT_NE(d.unverified[0].ToString().find("contents of 100 initialized pages"), std::string::npos)
      << d.unverified[0].ToString();

  // Pages not observed in full name themselves; a MODEL guest's contents are the model's.
  GuestMemfd part = a;
  part.visibility = {VisibilityRange{0, 100, PageVisibility::kInitializedOnly},
                     VisibilityRange{100, 4096, PageVisibility::kFull}};
  d = DiffSnapshots(Snapshot{{}, {}, {part}}, Snapshot{{}, {}, {part}});
  ASSERT_EQ(d.unverified.size(), 1u);
  EXPECT_NE(d.unverified[0].ToString().find("contents of 50 initialized pages"), std::string::npos)
      << d.unverified[0].ToString();
  GuestMemfd model = a;
  model.provenance = Provenance::kModel;
  EXPECT_TRUE(DiffSnapshots(Snapshot{{}, {}, {model}}, Snapshot{{}, {}, {model}}).fully_verified());
}

}  // namespace
}  // namespace khod

namespace khod {
namespace {

// A content hash is over its whole range: one that reaches pages the other
// capture did not observe in full has no twin (that capture hashes no such
// page), so the contents of its pages both observed in full were compared
// with nothing: not verified, never equal (MatchHashes, verify/snapshot_diff.h).
// Found by the page oracle (snapshot_diff_oracle_test, seeds 57 and 1351).
// 8 pages at contiguous PFNs, one extent hashed whole at Freeze; now pages 4-7
// are seen initialized only (private), so this capture hashed [0, 4).
GuestMemfd HashedWhole() {
  GuestMemfd g;
  g.token = 0x2a;
  g.name = "ram0";
  g.size = 8 * 4096;
  g.visibility = {VisibilityRange{0, 8, PageVisibility::kFull}};
  g.folios = {FolioExtent{0, 1000, 8, 0, kFolioUptodate}};
  g.hashes = {ContentHash{0, 8, 0x11}};
  return g;
}

GuestMemfd HalfPrivate() {
  GuestMemfd g = HashedWhole();
  g.visibility = {VisibilityRange{0, 4, PageVisibility::kFull},
                  VisibilityRange{4, 4, PageVisibility::kInitializedOnly}};
  g.folios = {FolioExtent{0, 1000, 4, 0, kFolioUptodate}, FolioExtent{4, kPfnUnknown, 4, 0, 0}};
  g.hashes = {ContentHash{0, 4, 0x22}};
  return g;
}

TEST(SnapshotDiffHashTest, AHashOverPagesTheOtherSideDidNotObserveInFullComparesNothing) {
  for (const auto& [a, b] :
       {std::pair(HashedWhole(), HalfPrivate()), std::pair(HalfPrivate(), HashedWhole())}) {
    SnapshotDiff d;
    DiffGmems(a, b, DiffOptions(), &d);
    EXPECT_TRUE(d.differences.empty()) << d.differences[0].ToString();
    // Pages 0-3: hashed by both captures, over [0, 8) and [0, 4): cut
    // otherwise, not compared. Pages 4-7: private now.
    EXPECT_EQ(d.counts.pages_equal, 0u);
    EXPECT_EQ(d.counts.pages_unverified, 8u);
    ASSERT_EQ(d.unverified.size(), 1u);
    EXPECT_EQ(d.unverified[0].pages, 8u);
    EXPECT_EQ(d.unverified[0].kinds,
              (std::vector<UnverifiedKind>{UnverifiedKind::kPagesPrivate,
                                           UnverifiedKind::kContentsCutOtherwise}))
        << d.unverified[0].ToString();
    EXPECT_NE(d.unverified[0].ToString().find("contents of 4 pages hashed over ranges cut "
                                              "otherwise by the two captures: not compared"),
              std::string::npos)
        << d.unverified[0].ToString();
  }
  // Both files hashed elsewhere too: pages 0-3, which the first capture
  // hashed over [0, 8) and this one not at all, are still not verified.
  GuestMemfd a = HashedWhole(), b = HalfPrivate();
  for (GuestMemfd* g : {&a, &b}) {
    g->size = 16 * 4096;
    g->visibility.push_back(VisibilityRange{8, 8, PageVisibility::kFull});
    g->folios.push_back(FolioExtent{8, 5000, 8, 0, kFolioUptodate});
    g->hashes.push_back(ContentHash{8, 8, 0x33});
  }
  b.hashes.erase(b.hashes.begin());
  SnapshotDiff d;
  DiffGmems(a, b, DiffOptions(), &d);
  EXPECT_TRUE(d.differences.empty()) << d.differences[0].ToString();
  EXPECT_EQ(d.counts.pages_equal, 8u);
  EXPECT_EQ(d.counts.pages_unverified, 8u);
  // One side's only hash over such pages: that capture still hashed the
  // file (its contents are not "hashed now only").
  GuestMemfd first_only = HashedWhole(), unhashed = HalfPrivate();
  unhashed.hashes.clear();
  d = SnapshotDiff();
  DiffGmems(first_only, unhashed, DiffOptions(), &d);
  ASSERT_EQ(d.unverified.size(), 1u);
  EXPECT_NE(d.unverified[0].ToString().find("contents of 4 initialized pages not compared: "
                                            "hashed by the first capture only"),
            std::string::npos)
      << d.unverified[0].ToString();
  EXPECT_EQ(d.counts.pages_equal, 0u);  // 4 private, 4 whose contents one capture hashed
  EXPECT_EQ(d.counts.pages_unverified, 8u);
}

}  // namespace
}  // namespace khod
