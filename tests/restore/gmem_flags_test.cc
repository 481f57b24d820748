// restore/gmem_flags.h: the creation flags a rebuild makes a guest_memfd
// with, or why it cannot, and whether an offered guest_memfd's MMAP matches
// the frozen one's. Pure: run on the values a capture records on Linux 6.18
// (docs/FORMAT.md "Observation"; MMAP is always observed, INIT_SHARED only
// from a page mapped shared, flags 2 read as 0), no /dev/kvm needed.
#include "restore/gmem_flags.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

namespace khod {
namespace {

constexpr uint64_t kMmap = uapi::kGuestMemfdFlagMmap;
constexpr uint64_t kInitShared = uapi::kGuestMemfdFlagInitShared;
constexpr uint64_t kBoth = kMmap | kInitShared;

GuestMemfd Gmem(uint64_t flags, uint64_t known) {
  GuestMemfd g;
  g.token = 7;
  g.name = "ram";
  g.kind = FileKind::kGuestMemfd;
  g.size = 1 << 20;
  g.flags = flags;
  g.flags_known = known;
  return g;
}

// What a kernel capture records of a guest_memfd made with `made`, some page
// of which was used (`used`) or none, with `declared` (0: nothing declared):
// MMAP is always observed; INIT_SHARED only from a page mapped shared, which
// needs both flags and a used page; a bit not observed takes the declared value.
GuestMemfd Captured(uint64_t made, bool used, uint64_t declared) {
  const uint64_t seen_mask = kMmap | (used && made == kBoth ? kInitShared : 0);
  return Gmem((made & seen_mask) | (declared & ~seen_mask), seen_mask);
}

std::optional<uint64_t> Declared(uint64_t d) {
  return d ? std::optional<uint64_t>(d) : std::nullopt;
}

bool Has(const Status& s, const std::string& part) {
  return s.message().find(part) != std::string::npos;
}

// Every file a 6.18 kernel makes, used or not, declared truly or not at all,
// with the session record's declaration at hand or lost: the rebuild creates
// exactly the flags the file was made with, or refuses. Never another.
TEST(RebuildGmemFlagsTest, NeverCreatesOtherFlagsThanTheFileWasMadeWith) {
  struct Case {
    uint64_t made;
    bool used;
    uint64_t declared;       // 0: nothing declared
    bool rebuilt;            // with the record's declaration
    bool rebuilt_no_record;  // the snapshot alone
  };
  const std::vector<Case> cases = {
      // Flags 0 look like 2, and 0 cannot be declared.
      {0, false, 0, false, false},
      {0, true, 0, false, false},
      // MMAP alone: INIT_SHARED clear is never observed; declared, the record says so.
      {kMmap, false, 0, false, false},
      {kMmap, true, 0, false, false},
      {kMmap, false, kMmap, true, false},
      // INIT_SHARED alone looks like 0; declared, the snapshot carries the set bit.
      {kInitShared, false, 0, false, false},
      {kInitShared, false, kInitShared, true, true},
      // Both, no page used: looks MMAP-only unless declared.
      {kBoth, false, 0, false, false},
      {kBoth, false, kBoth, true, true},
      // Both, a page used: observed.
      {kBoth, true, 0, true, true},
      {kBoth, true, kBoth, true, true},
  };
  for (const Case& c : cases) {
    const GuestMemfd g = Captured(c.made, c.used, c.declared);
    const std::string what = "made " + std::to_string(c.made) + (c.used ? " used" : " unused") +
                             " declared " + std::to_string(c.declared);
    Result<uint64_t> with_record = RebuildGmemFlags(g, Declared(c.declared));
    Result<uint64_t> no_record = RebuildGmemFlags(g, std::nullopt);
    EXPECT_EQ(with_record.ok(), c.rebuilt) << what << ": " << with_record.status().ToString();
    EXPECT_EQ(no_record.ok(), c.rebuilt_no_record) << what << ": " << no_record.status().ToString();
    if (with_record.ok()) {
      EXPECT_EQ(*with_record, c.made) << what;
    }
    if (no_record.ok()) {
      EXPECT_EQ(*no_record, c.made) << what;
    }
    for (const Result<uint64_t>* r : {&with_record, &no_record}) {
      if (!r->ok()) {
        EXPECT_EQ(r->status().code(), Status::Code::kFailedPrecondition) << what;
      }
    }
  }
}

TEST(RebuildGmemFlagsTest, TheRefusalNamesTheGmemTheUnknownBitsAndTheWayOut) {
  // MMAP|INIT_SHARED none of whose pages was used, nothing declared.
  Result<uint64_t> r = RebuildGmemFlags(Gmem(kMmap, kMmap), std::nullopt);
  ASSERT_FALSE(r.ok());
  const Status& s = r.status();
  EXPECT_EQ(s.code(), Status::Code::kFailedPrecondition);
  EXPECT_TRUE(Has(s,
                  "gmem 7 ('ram'): not rebuilt: a new guest_memfd would need INIT_SHARED, "
                  "neither declared at Attach nor observed by the capture (MMAP set, "
                  "INIT_SHARED unknown)"))
      << s.message();
  EXPECT_TRUE(Has(s, "never creates one with a guessed creation flag")) << s.message();
  EXPECT_TRUE(Has(s, "offer in rebuild_into a guest_memfd the VMM made on its VM")) << s.message();
  EXPECT_TRUE(Has(s, "declare gmem_flags at Attach")) << s.message();
  // Flags 0 or 2: MMAP known clear.
  r = RebuildGmemFlags(Gmem(0, kMmap), std::nullopt);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(Has(r.status(), "(MMAP clear, INIT_SHARED unknown)")) << r.status().message();
  EXPECT_TRUE(Has(r.status(), "INIT_SHARED alone like no flags")) << r.status().message();
  // A snapshot that holds neither bit names both.
  r = RebuildGmemFlags(Gmem(0, 0), std::nullopt);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(Has(r.status(), "would need MMAP|INIT_SHARED")) << r.status().message();
  EXPECT_TRUE(Has(r.status(), "(MMAP unknown, INIT_SHARED unknown)")) << r.status().message();
}

TEST(RebuildGmemFlagsTest, ADeclarationCompletesWhatWasNotObserved) {
  EXPECT_EQ(*RebuildGmemFlags(Gmem(kMmap, kMmap), kMmap), kMmap);
  EXPECT_EQ(*RebuildGmemFlags(Gmem(kMmap, kMmap), kBoth), kBoth);
  EXPECT_EQ(*RebuildGmemFlags(Gmem(0, kMmap), kInitShared), kInitShared);
  EXPECT_EQ(*RebuildGmemFlags(Gmem(0, 0), kBoth), kBoth);
  EXPECT_EQ(*RebuildGmemFlags(Gmem(0, 0), kInitShared), kInitShared);
  // All observed (or a 1.0 blob: all ones): as the snapshot holds them.
  for (uint64_t f : {uint64_t{0}, kMmap, kInitShared, kBoth}) {
    EXPECT_EQ(*RebuildGmemFlags(Gmem(f, kBoth), std::nullopt), f);
    EXPECT_EQ(*RebuildGmemFlags(Gmem(f, ~0ull), std::nullopt), f);
  }
}

TEST(RebuildGmemFlagsTest, ADeclarationThatContradictsTheSnapshotIsRefused) {
  // MMAP observed set, declared clear.
  Result<uint64_t> r = RebuildGmemFlags(Gmem(kMmap, kMmap), kInitShared);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_TRUE(Has(r.status(),
                  "gmem 7 ('ram'): the creation flags declared at Attach, "
                  "INIT_SHARED, contradict what the snapshot holds (MMAP set, "
                  "INIT_SHARED unknown)"))
      << r.status().message();
  // INIT_SHARED observed set, declared clear.
  EXPECT_FALSE(RebuildGmemFlags(Gmem(kBoth, kBoth), kMmap).ok());
  // INIT_SHARED carried in the snapshot as declared, the record says clear.
  EXPECT_FALSE(RebuildGmemFlags(Gmem(kBoth, kMmap), kMmap).ok());
}

TEST(RebuildGmemFlagsTest, MemfdsAndBitsNoFlagHasPassThrough) {
  GuestMemfd memfd = Gmem(0, ~0ull);
  memfd.kind = FileKind::kShmemMemfd;
  EXPECT_EQ(*RebuildGmemFlags(memfd, std::nullopt), 0u);
  // The kernel refuses a bit no flag has by name; restore does not hide it.
  EXPECT_EQ(*RebuildGmemFlags(Gmem(kMmap | 4, ~0ull), std::nullopt), kMmap | 4);
}

TEST(KnownFrozenGmemFlagsTest, ObservedCarriedAndDeclaredBits) {
  EXPECT_EQ(*KnownFrozenGmemFlags(Gmem(kMmap, kMmap), std::nullopt),
            (KnownGmemFlags{kMmap, kMmap}));
  // A set bit outside flags_known: a declaration; a clear one says nothing.
  EXPECT_EQ(*KnownFrozenGmemFlags(Gmem(kBoth, kMmap), std::nullopt),
            (KnownGmemFlags{kBoth, kBoth}));
  EXPECT_EQ(*KnownFrozenGmemFlags(Gmem(kInitShared, 0), std::nullopt),
            (KnownGmemFlags{kInitShared, kInitShared}));
  EXPECT_EQ(*KnownFrozenGmemFlags(Gmem(kMmap, kMmap), kMmap), (KnownGmemFlags{kMmap, kBoth}));
  EXPECT_EQ(GmemFlagNames(0), "none");
  EXPECT_EQ(GmemFlagNames(kBoth), "MMAP|INIT_SHARED");
  EXPECT_EQ(GmemFlagNames(kInitShared | 8), "INIT_SHARED|0x8");
}

TEST(CheckOfferedGmemMmapTest, AnOfferMustHaveTheFrozenMmapWhereItIsKnown) {
  const std::string offer = "rebuild_into[0]: fd 9 of pid 77";
  // Made with MMAP (observed), with or without INIT_SHARED seen.
  for (const GuestMemfd& g : {Gmem(kMmap, kMmap), Gmem(kBoth, kBoth), Gmem(kBoth, kMmap)}) {
    EXPECT_TRUE(CheckOfferedGmemMmap(g, true, offer).ok());
    const Status s = CheckOfferedGmemMmap(g, false, offer);
    EXPECT_EQ(s.code(), Status::Code::kFailedPrecondition);
    EXPECT_EQ(s.message(),
              "rebuild_into[0]: fd 9 of pid 77 cannot be mapped (mmap(PROT_NONE) fails with "
              "ENODEV: made without MMAP), gmem 7 ('ram') was made with MMAP: the VMM must make "
              "the guest_memfd it offers with the frozen file's flags");
  }
  // Made without MMAP (flags 0 or 2, observed).
  for (const GuestMemfd& g : {Gmem(0, kMmap), Gmem(kInitShared, kMmap)}) {
    EXPECT_TRUE(CheckOfferedGmemMmap(g, false, offer).ok());
    const Status s = CheckOfferedGmemMmap(g, true, offer);
    EXPECT_EQ(s.code(), Status::Code::kFailedPrecondition);
    EXPECT_TRUE(Has(s,
                    "fd 9 of pid 77 can be mapped (mmap(PROT_NONE) works: made with MMAP), "
                    "gmem 7 ('ram') was made without MMAP"))
        << s.message();
  }
  // MMAP carried as declared where the snapshot did not observe it: known.
  EXPECT_FALSE(CheckOfferedGmemMmap(Gmem(kMmap, 0), false, offer).ok());
  // MMAP not known: anything is accepted.
  for (bool mappable : {true, false}) {
    EXPECT_TRUE(CheckOfferedGmemMmap(Gmem(0, 0), mappable, offer).ok());
    EXPECT_TRUE(CheckOfferedGmemMmap(Gmem(0, kInitShared), mappable, offer).ok());
  }
}

TEST(CheckOfferedGmemInitSharedTest, AnOfferMustHaveTheFrozenInitSharedWhereItIsKnown) {
  const std::string offer = "rebuild_into[0]: fd 9 of pid 77";
  // Made with INIT_SHARED: seen (a page mapped shared), or carried as declared.
  for (const GuestMemfd& g : {Gmem(kBoth, kBoth), Gmem(kBoth, kMmap)}) {
    EXPECT_TRUE(CheckOfferedGmemInitShared(g, true, offer).ok());
    const Status s = CheckOfferedGmemInitShared(g, false, offer);
    EXPECT_EQ(s.code(), Status::Code::kFailedPrecondition);
    EXPECT_EQ(s.message(),
              "rebuild_into[0]: fd 9 of pid 77 has private pages (a populate of page 0 fails "
              "with EFAULT: made without INIT_SHARED), gmem 7 ('ram') was made with INIT_SHARED: "
              "the VMM must make the guest_memfd it offers with the frozen file's flags");
  }
  // Known made without it.
  EXPECT_TRUE(CheckOfferedGmemInitShared(Gmem(kMmap, kBoth), false, "o").ok());
  EXPECT_TRUE(Has(CheckOfferedGmemInitShared(Gmem(kMmap, kBoth), true, "o"),
                  "o has pages shared with the host (a populate of page 0 works: made with "
                  "INIT_SHARED), gmem 7 ('ram') was made without INIT_SHARED"));
  // Not known (never seen, not declared): anything is accepted.
  for (bool shared : {true, false})
    EXPECT_TRUE(CheckOfferedGmemInitShared(Gmem(kMmap, kMmap), shared, "o").ok());
  // A memfd has no creation flags.
  GuestMemfd memfd = Gmem(kBoth, kBoth);
  memfd.kind = FileKind::kShmemMemfd;
  EXPECT_TRUE(CheckOfferedGmemInitShared(memfd, false, "o").ok());
}

TEST(RebuildDescriptionTest, CarriesTheDecidedFlagsAndTheRestAsTheSnapshotHoldsIt) {
  GuestMemfd g = Gmem(kMmap, kMmap);
  g.vm_token = 5;
  g.policy_source = PolicySource::kVmmMappings;
  g.mapping_policies.push_back(MappingPolicy{});
  g.folios.push_back(FolioExtent{});
  g.hashes.push_back(ContentHash{});
  const GuestMemfd d = RebuildDescription(g, kBoth);
  EXPECT_EQ(d.flags, kBoth);
  EXPECT_EQ(d.flags_known & kDefinedGmemFlags, kDefinedGmemFlags);
  EXPECT_EQ(d.token, g.token);
  EXPECT_EQ(d.name, g.name);
  EXPECT_EQ(d.size, g.size);
  EXPECT_EQ(d.vm_token, 5u);
  EXPECT_EQ(d.policy_source, PolicySource::kVmmMappings);
  EXPECT_EQ(d.mapping_policies.size(), 1u);
  EXPECT_EQ(d.folios, g.folios);
  EXPECT_EQ(d.hashes, g.hashes);
  // What RebuildGmemFlags decided stands when the description is asked again.
  EXPECT_EQ(*RebuildGmemFlags(d, std::nullopt), kBoth);
}

}  // namespace
}  // namespace khod
