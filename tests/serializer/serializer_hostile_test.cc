// One test per named malformed input, for both decoders: each gets a Status
// of the right code whose message names the problem. FDT cases edit a valid
// blob with libfdt and re-seal its checksum, so the decoder's structural and
// invariant checks (not just the checksum) are what is exercised.
#include <gtest/gtest.h>
#include <libfdt.h>

#include <cstring>

#include "proto/snapshot.pb.h"
#include "serializer/fdt_checksum.h"
#include "serializer/format_version.h"
#include "serializer/frame.h"
#include "serializer/serializer.h"
#include "serializer/varint_tables.h"

namespace khod {
namespace {

// One VM with two memslots, one buddy gmem (1024 pages) with two extents.
Snapshot Base() {
  Snapshot s;
  s.header.producer = "hostile";
  Vm vm;
  vm.token = 1;
  vm.memslots = {{0, 4, 0, 16, 0, 2, 0}, {1, 4, 100, 16, 0, 2, 16 * 4096}};
  s.vms.push_back(vm);
  GuestMemfd g;
  g.token = 2;
  g.vm_token = 1;
  g.size = 1024 * 4096;
  g.folios = {{0, 100, 10, 0, 1}, {20, 200, 5, 0, 1}};
  g.attributes.Set(0, 10, kAttrPrivate);
  s.gmems.push_back(g);
  return s;
}

// ---- FDT editing ----------------------------------------------------------

std::string BaseFdt() {
  std::string blob;
  EXPECT_TRUE(EncodeFdt(Base(), &blob).ok());
  return blob;
}

// Sets (or adds) a property, or adds a subnode when name is null, then re-seals.
void EditFdt(std::string* blob, const char* path, const char* name, const void* val, int len,
             const char* new_node = nullptr) {
  std::string grown(blob->size() + 4096, '\0');
  ASSERT_EQ(fdt_open_into(blob->data(), &grown[0], static_cast<int>(grown.size())), 0);
  const int node = fdt_path_offset(grown.data(), path);
  ASSERT_GE(node, 0) << path;
  if (new_node != nullptr)
    ASSERT_GE(fdt_add_subnode(&grown[0], node, new_node), 0);
  else
    ASSERT_EQ(fdt_setprop(&grown[0], node, name, val, len), 0) << name;
  ASSERT_EQ(fdt_pack(&grown[0]), 0);
  grown.resize(fdt_totalsize(grown.data()));
  ASSERT_TRUE(SealFdt(&grown).ok());
  *blob = grown;
}

struct FolioRec {
  uint64_t index, pfn;
  uint32_t nr;
  uint8_t order, flags;
  uint16_t pad;
};
static_assert(sizeof(FolioRec) == 24, "FDT folio record layout");

void SetFolios(std::string* blob, std::vector<FolioRec> recs) {
  const uint64_t n = recs.size();
  EditFdt(blob, "/gmem-2/folios", "nr-records", &n, 8);
  EditFdt(blob, "/gmem-2/folios", "chunk-0", recs.data(), static_cast<int>(n * 24));
}

Status DecodeFdtBlob(const std::string& blob) {
  Snapshot out;
  return DecodeFdt(blob, &out);
}

void ExpectError(const Status& s, Status::Code code, const std::string& needle) {
  EXPECT_EQ(s.code(), code) << s.ToString();
  EXPECT_NE(s.message().find(needle), std::string::npos)
      << "message '" << s.message() << "' does not mention '" << needle << "'";
}

TEST(SerializerHostileFdt, Truncated) {
  const std::string blob = BaseFdt();
  ExpectError(DecodeFdtBlob(blob.substr(0, blob.size() - 1)), Status::Code::kCorruption,
              "truncated");
  ExpectError(DecodeFdtBlob(blob.substr(0, 20)), Status::Code::kCorruption, "truncated");
}

TEST(SerializerHostileFdt, BitFlipped) {
  std::string blob = BaseFdt();
  blob[blob.size() - 40] ^= 0x10;  // inside the strings block: structure stays valid
  ExpectError(DecodeFdtBlob(blob), Status::Code::kCorruption, "");
  std::string blob2 = BaseFdt();
  const int node = fdt_path_offset(blob2.data(), "/gmem-2/folios");
  int len;
  const char* chunk = static_cast<const char*>(fdt_getprop(blob2.data(), node, "chunk-0", &len));
  blob2[chunk - blob2.data() + 8] ^= 1;  // a PFN bit: only the checksum can see it
  ExpectError(DecodeFdtBlob(blob2), Status::Code::kCorruption, "checksum mismatch");
}

TEST(SerializerHostileFdt, WrongMagic) {
  std::string blob = BaseFdt();
  blob[0] = 'X';
  ExpectError(DecodeFdtBlob(blob), Status::Code::kCorruption, "magic");
}

TEST(SerializerHostileFdt, UnknownMajorVersion) {
  std::string blob = BaseFdt();
  const uint32_t v2[2] = {2, 0};
  EditFdt(&blob, "/", "format-version", v2, 8);
  ExpectError(DecodeFdtBlob(blob), Status::Code::kUnsupported, "major version 2");
  std::string blob2 = BaseFdt();
  EditFdt(&blob2, "/", "compatible", "khod,snapshot-v2", 17);
  ExpectError(DecodeFdtBlob(blob2), Status::Code::kUnsupported, "khod,snapshot-v2");
  std::string blob3 = BaseFdt();
  EditFdt(&blob3, "/gmem-2", "compatible", "khod,guest-memfd-v9", 20);
  ExpectError(DecodeFdtBlob(blob3), Status::Code::kUnsupported, "khod,guest-memfd-v9");
}

TEST(SerializerHostileFdt, NotAKhodSnapshot) {
  std::string blob = BaseFdt();
  EditFdt(&blob, "/", "compatible", "kho-v1", 7);
  ExpectError(DecodeFdtBlob(blob), Status::Code::kCorruption, "not a khod snapshot");
}

// A newer minor adds properties, nodes and record fields; this reader ignores them.
TEST(SerializerHostileFdt, NewerMinorIsAcceptedAndExtrasIgnored) {
  std::string blob = BaseFdt();
  const uint32_t v17[2] = {1, 7};
  EditFdt(&blob, "/", "format-version", v17, 8);
  EditFdt(&blob, "/", "future-root-prop", "x", 2);
  EditFdt(&blob, "/gmem-2", "future-gmem-prop", "y", 2);
  EditFdt(&blob, "/", nullptr, nullptr, 0, "future-node");
  EditFdt(&blob, "/gmem-2", nullptr, nullptr, 0, "future-table");
  // Folio records grow from 24 to 32 bytes; the first 24 keep their meaning.
  const Snapshot base = Base();
  std::string recs(2 * 32, '\x5a');
  for (int i = 0; i < 2; ++i) {
    const FolioExtent& e = base.gmems[0].folios[i];
    FolioRec r{e.first_index, e.first_pfn, e.nr_folios, e.order, e.flags, 0};
    std::memcpy(&recs[i * 32], &r, 24);
  }
  const uint32_t rs = 32;
  EditFdt(&blob, "/gmem-2/folios", "record-size", &rs, 4);
  EditFdt(&blob, "/gmem-2/folios", "chunk-0", recs.data(), 64);
  Snapshot out;
  const Status s = DecodeFdt(blob, &out);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(out.header.format_minor, 7);
  out.header.format_minor = base.header.format_minor;  // the model's own version
  EXPECT_TRUE(out == base);
}

// Base() with its gmem's policy read per VMM mapping: one bind mapping.
Snapshot WithMappingPolicy() {
  Snapshot s = Base();
  GuestMemfd& g = s.gmems[0];
  g.policy_source = PolicySource::kVmmMappings;
  g.mapping_policies = {MappingPolicy{0, 16, 42, 0x7f0000000000ull, Mempolicy{2, 0, {1}, -1}}};
  return s;
}

// Format 1.2's home-node fields: a 1.1 record (48 bytes) reads as its 1.1
// producer saw it, a 1.2 record's unknown flag bits and reserved bytes are
// refused, and the inode's property must be empty.
TEST(SerializerHostileFdt, HomeNodeFieldsOfFormat1_2) {
  std::string blob;
  ASSERT_TRUE(EncodeFdt(WithMappingPolicy(), &blob).ok());
  std::string recs(56, '\0');
  const int off = fdt_path_offset(blob.data(), "/gmem-2/mapping-policies");
  ASSERT_GE(off, 0);
  int len = 0;
  const void* chunk = fdt_getprop(blob.data(), off, "chunk-0", &len);
  ASSERT_EQ(len, 56);
  std::memcpy(&recs[0], chunk, 56);

  // As a 1.1 blob with a 48-byte record: the kernel bind policy's home node reads as not seen.
  std::string old = blob;
  const uint32_t v11[2] = {1, 1}, rs48 = 48;
  EditFdt(&old, "/", "format-version", v11, 8);
  EditFdt(&old, "/gmem-2/mapping-policies", "record-size", &rs48, 4);
  EditFdt(&old, "/gmem-2/mapping-policies", "chunk-0", recs.data(), 48);
  Snapshot out;
  ASSERT_TRUE(DecodeFdt(old, &out).ok());
  EXPECT_FALSE(out.gmems[0].mapping_policies[0].policy.home_node_seen);
  // The same record in a 1.2 blob says seen.
  ASSERT_TRUE(DecodeFdt(blob, &out).ok());
  EXPECT_TRUE(out.gmems[0].mapping_policies[0].policy.home_node_seen);

  std::string bad = blob, r = recs;
  r[48] = 0x2;  // a policy flag this reader does not know
  EditFdt(&bad, "/gmem-2/mapping-policies", "chunk-0", r.data(), 56);
  ExpectError(DecodeFdtBlob(bad), Status::Code::kCorruption,
              "policy flags 0x2 unknown in format 1.3");
  // Nor did 1.2 have one.
  const uint32_t v12[2] = {1, 2};
  EditFdt(&bad, "/", "format-version", v12, 8);
  ExpectError(DecodeFdtBlob(bad), Status::Code::kCorruption,
              "policy flags 0x2 unknown in format 1.2");
  // From a newer minor, a flag it added is one this reader may ignore.
  const uint32_t v14[2] = {1, 4};
  EditFdt(&bad, "/", "format-version", v14, 8);
  ASSERT_TRUE(DecodeFdt(bad, &out).ok());
  EXPECT_TRUE(out.gmems[0].mapping_policies[0].policy.home_node_seen);
  bad = blob, r = recs;
  r[52] = 0x1;
  EditFdt(&bad, "/gmem-2/mapping-policies", "chunk-0", r.data(), 56);
  ExpectError(DecodeFdtBlob(bad), Status::Code::kCorruption, "reserved bytes are not zero");
  bad = blob, r = recs;
  r[48] = 0x1;  // not seen, but a home node given
  const int32_t home = 3;
  std::memcpy(&r[36], &home, 4);
  EditFdt(&bad, "/gmem-2/mapping-policies", "chunk-0", r.data(), 56);
  ExpectError(DecodeFdtBlob(bad), Status::Code::kCorruption, "home node 3 given but not seen");
  bad = blob;
  EditFdt(&bad, "/gmem-2", "mempolicy-home-node-unseen", "x", 2);
  ExpectError(DecodeFdtBlob(bad), Status::Code::kCorruption,
              "property 'mempolicy-home-node-unseen' is not empty");
  // A 1.2 kernel inode policy reads as unknown (serializer/older_minors.h),
  // but one that breaks the invariants is refused, not taken back: a home
  // node not seen of the default policy, which cannot hold one.
  bad = BaseFdt();
  EditFdt(&bad, "/", "format-version", v12, 8);
  Snapshot as_old;
  ASSERT_TRUE(DecodeFdt(bad, &as_old).ok());
  EXPECT_EQ(as_old.gmems[0].policy_source, PolicySource::kUnknown);
  EditFdt(&bad, "/gmem-2", "mempolicy-home-node-unseen", "", 0);
  ExpectError(DecodeFdtBlob(bad), Status::Code::kCorruption,
              "home node not seen for policy mode 0");
}

TEST(SerializerHostileFdt, ExtentsOverlapping) {
  std::string blob = BaseFdt();
  SetFolios(&blob, {{0, 100, 10, 0, 1, 0}, {5, 200, 5, 0, 1, 0}});
  ExpectError(DecodeFdtBlob(blob), Status::Code::kCorruption, "overlaps");
}

TEST(SerializerHostileFdt, ExtentsOutOfOrder) {
  std::string blob = BaseFdt();
  SetFolios(&blob, {{20, 200, 5, 0, 1, 0}, {0, 100, 10, 0, 1, 0}});
  ExpectError(DecodeFdtBlob(blob), Status::Code::kCorruption, "precedes");
}

TEST(SerializerHostileFdt, IndexPastSize) {
  std::string blob = BaseFdt();
  SetFolios(&blob, {{0, 100, 10, 0, 1, 0}, {1020, 200, 5, 0, 1, 0}});
  ExpectError(DecodeFdtBlob(blob), Status::Code::kCorruption, "past size");
}

TEST(SerializerHostileFdt, IndexNotAligned) {
  std::string blob = BaseFdt();
  SetFolios(&blob, {{0, 100, 10, 0, 1, 0}, {21, 200, 1, 1, 1, 0}});
  ExpectError(DecodeFdtBlob(blob), Status::Code::kCorruption, "not aligned to folio order 1");
}

TEST(SerializerHostileFdt, RecordCountMismatch) {
  std::string blob = BaseFdt();
  const uint64_t n = 3;
  EditFdt(&blob, "/gmem-2/folios", "nr-records", &n, 8);
  ExpectError(DecodeFdtBlob(blob), Status::Code::kCorruption, "nr-records 3");
  std::string blob2 = BaseFdt();
  EditFdt(&blob2, "/gmem-2/folios", "chunk-0", "abcde", 5);
  ExpectError(DecodeFdtBlob(blob2), Status::Code::kCorruption, "not a multiple of 24");
}

// The decoder sizes the folio array before filling it: a hostile nr-records
// is capped by what the blob can hold (no huge allocation), and chunks
// holding more or fewer records than it says are refused.
TEST(SerializerHostileFdt, FolioCountThatLiesIsRefusedWithoutSizingToIt) {
  for (uint64_t n : {uint64_t{1} << 60, uint64_t{1}, uint64_t{0}}) {
    SCOPED_TRACE("nr-records " + std::to_string(n));
    std::string blob = BaseFdt();
    EditFdt(&blob, "/gmem-2/folios", "nr-records", &n, 8);
    ExpectError(DecodeFdtBlob(blob), Status::Code::kCorruption,
                n > 2 ? "nr-records " + std::to_string(n) + " but chunks hold"
                      : "chunks hold more than nr-records " + std::to_string(n));
  }
}

// A table is the subnode libfdt's fdt_subnode_offset names: `folios`, or
// `folios@unit`, the first of them when there are two.
TEST(SerializerHostileFdt, TablesAreFoundByLibfdtsNameRule) {
  const auto renamed = [](const char* name) {
    std::string grown(BaseFdt().size() + 4096, '\0');
    EXPECT_EQ(fdt_open_into(BaseFdt().data(), &grown[0], static_cast<int>(grown.size())), 0);
    EXPECT_EQ(fdt_set_name(&grown[0], fdt_path_offset(grown.data(), "/gmem-2/folios"), name), 0);
    EXPECT_EQ(fdt_pack(&grown[0]), 0);
    grown.resize(fdt_totalsize(grown.data()));
    EXPECT_TRUE(SealFdt(&grown).ok());
    Snapshot out;
    const Status s = DecodeFdt(grown, &out);
    return s.ok() ? out.gmems.at(0).folios.size() : static_cast<size_t>(-1);
  };
  EXPECT_EQ(renamed("folios@0"), 2u);
  EXPECT_EQ(renamed("foliosx"), 0u);  // no table of that name: none
  // Another `folios@1`, which libfdt adds before the others, is the one
  // read: an empty node, refused as a table, never skipped for the next.
  std::string blob = BaseFdt();
  EditFdt(&blob, "/gmem-2", nullptr, nullptr, 0, "folios@1");
  const int gmem = fdt_path_offset(blob.data(), "/gmem-2");
  ASSERT_STREQ(fdt_get_name(blob.data(), fdt_subnode_offset(blob.data(), gmem, "folios"), nullptr),
               "folios@1");
  ExpectError(DecodeFdtBlob(blob), Status::Code::kUnsupported, "folios: compatible ''");
}

TEST(SerializerHostileFdt, MissingOrMistypedProperty) {
  std::string blob = BaseFdt();
  const uint32_t short_size = 7;
  EditFdt(&blob, "/gmem-2", "size", &short_size, 4);
  ExpectError(DecodeFdtBlob(blob), Status::Code::kCorruption, "'size' is 4 bytes, expected 8");
}

TEST(SerializerHostileFdt, AttributeRangePastSize) {
  std::string blob = BaseFdt();
  const uint64_t rec[3] = {1020, 10, kAttrPrivate};
  EditFdt(&blob, "/gmem-2/attributes", "chunk-0", rec, 24);
  ExpectError(DecodeFdtBlob(blob), Status::Code::kCorruption, "attributes");
  ExpectError(DecodeFdtBlob(blob), Status::Code::kCorruption, "past size");
}

TEST(SerializerHostileFdt, MemslotsOverlapping) {
  std::string blob = BaseFdt();
  const Snapshot base = Base();
  uint8_t recs[96];
  for (int i = 0; i < 2; ++i) {
    Memslot m = base.vms[0].memslots[i];
    if (i == 1) m.base_gfn = 8;  // gfns 8..23 overlap slot 0's 0..15
    std::memcpy(recs + 48 * i, &m.slot, 4);
    std::memcpy(recs + 48 * i + 4, &m.flags, 4);
    std::memcpy(recs + 48 * i + 8, &m.base_gfn, 8);
    std::memcpy(recs + 48 * i + 16, &m.npages, 8);
    std::memcpy(recs + 48 * i + 24, &m.userspace_addr, 8);
    std::memcpy(recs + 48 * i + 32, &m.gmem_token, 8);
    std::memcpy(recs + 48 * i + 40, &m.gmem_offset, 8);
  }
  EditFdt(&blob, "/vm-1/memslots", "chunk-0", recs, 96);
  ExpectError(DecodeFdtBlob(blob), Status::Code::kCorruption, "gfns overlap memslots[0]");
}

// ---- proto editing --------------------------------------------------------

namespace pb = ::khod::snapshot::v1;

pb::Snapshot BaseMessage() {
  std::string blob;
  EXPECT_TRUE(EncodeProto(Base(), &blob).ok());
  Result<FrameInfo> f = ReadFrame(blob, kFormatMajor);
  pb::Snapshot m;
  EXPECT_TRUE(f.ok() && m.ParseFromArray(f->payload.data(), static_cast<int>(f->payload.size())));
  return m;
}

Status DecodeMessage(const pb::Snapshot& m, uint16_t major = 1, uint16_t minor = 0,
                     const std::string& extra = "") {
  std::string framed;
  WriteFrame(major, minor, m.SerializeAsString() + extra, &framed);
  Snapshot out;
  return DecodeProto(framed, &out);
}

void SetFolios(pb::Snapshot* m, const FolioList& extents) {
  std::string stream;
  EncodeFolioStream(extents, &stream);
  m->mutable_gmems(0)->set_folio_extents(stream);
  m->mutable_gmems(0)->set_nr_folio_extents(extents.size());
}

TEST(SerializerHostileProto, Truncated) {
  std::string blob;
  ASSERT_TRUE(EncodeProto(Base(), &blob).ok());
  Snapshot out;
  ExpectError(DecodeProto(blob.substr(0, blob.size() - 1), &out), Status::Code::kCorruption,
              "truncated payload");
  ExpectError(DecodeProto(blob.substr(0, 30), &out), Status::Code::kCorruption, "truncated header");
}

TEST(SerializerHostileProto, BitFlipped) {
  std::string blob;
  ASSERT_TRUE(EncodeProto(Base(), &blob).ok());
  Snapshot out;
  std::string bad = blob;
  bad[blob.size() - 3] ^= 4;
  ExpectError(DecodeProto(bad, &out), Status::Code::kCorruption, "payload checksum mismatch");
  bad = blob;
  bad[17] ^= 1;  // payload length
  ExpectError(DecodeProto(bad, &out), Status::Code::kCorruption, "header checksum mismatch");
}

TEST(SerializerHostileProto, WrongMagic) {
  std::string blob;
  ASSERT_TRUE(EncodeProto(Base(), &blob).ok());
  blob[3] = 'X';
  Snapshot out;
  ExpectError(DecodeProto(blob, &out), Status::Code::kCorruption, "bad magic");
}

TEST(SerializerHostileProto, UnknownMajorVersion) {
  ExpectError(DecodeMessage(BaseMessage(), 2, 0), Status::Code::kUnsupported, "major version 2");
}

TEST(SerializerHostileProto, NewerMinorWithUnknownFieldsIsAccepted) {
  // Field 1000, varint 1: what a v1.4 writer's new field looks like to us.
  const std::string unknown_field = std::string("\xc0\x3e\x01", 3);
  std::string framed;
  WriteFrame(1, 4, BaseMessage().SerializeAsString() + unknown_field, &framed);
  Snapshot out;
  const Status s = DecodeProto(framed, &out);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(out.header.format_minor, 4);
  out.header.format_minor = Base().header.format_minor;
  EXPECT_TRUE(out == Base());
}

// What an older blob's policies read as (serializer/older_minors.h), of
// kernel files only. A 1.0 or 1.1 blob: a bind or preferred-many policy has its
// home node not seen, one it names included (no such producer saw one). A 1.0
// to 1.2 blob: an inode policy (one page's, or a HugeTLB memfd's own
// mapping's) is unknown, the policy the default, saying why. A 1.0 blob: a
// guest_memfd's creation flags none shown. A model's stays what it says.
Snapshot OldMinorPolicies() {
  Snapshot s = Base();  // gmem 2: a kernel guest_memfd, the default inode policy
  GuestMemfd shm;       // a kernel memfd's shared policy, bind
  shm.token = 3;
  shm.kind = FileKind::kShmemMemfd;
  shm.size = 16 * 4096;
  shm.policy = Mempolicy{2, 0, {1}, -1};
  GuestMemfd model = shm;  // the same policy of a MODEL file
  model.token = 4;
  model.provenance = Provenance::kModel;
  GuestMemfd gmem = shm;  // a kernel guest_memfd's VMM mapping, preferred-many, home node named
  gmem.token = 5;
  gmem.kind = FileKind::kGuestMemfd;
  gmem.flags = 1;
  gmem.flags_known = 1;
  gmem.policy = Mempolicy();
  gmem.policy_source = PolicySource::kVmmMappings;
  gmem.mapping_policies = {MappingPolicy{0, 16, 42, 0x7f0000000000ull, Mempolicy{5, 0, {1}, 2}}};
  GuestMemfd interleave = shm;  // a mode that holds no home node
  interleave.token = 6;
  interleave.policy = Mempolicy{3, 0, {1}, -1};
  GuestMemfd huge = shm;  // a HugeTLB memfd: its "inode" policy was khod's own mapping's
  huge.token = 7;
  huge.kind = FileKind::kHugetlbMemfd;
  huge.backing = Backing::kHugetlb;
  huge.hstate_order = 9;
  huge.size = 512 * 4096;
  s.gmems.insert(s.gmems.end(), {shm, model, gmem, interleave, huge});
  return s;
}

void ExpectOldMinorReading(const Snapshot& got, uint16_t minor) {
  const std::string version = "format 1." + std::to_string(minor) + ": ";
  const std::string one_page =
      version + "read at one page (get_mempolicy), not the file's whole shared policy";
  ASSERT_EQ(got.gmems.size(), 6u);
  for (size_t i : {0, 1, 4, 5}) {  // the kernel files' inode policies
    SCOPED_TRACE(i);
    const GuestMemfd& g = got.gmems[i];
    EXPECT_EQ(g.policy_source, PolicySource::kUnknown);
    EXPECT_TRUE(g.policy == Mempolicy());
    EXPECT_EQ(g.policy_unread, i == 5 ? version +
                                            "a HugeTLB memfd keeps no shared policy (each mapping "
                                            "keeps its own); the policy recorded was khod's own "
                                            "mapping's, not the file's"
                                      : one_page);
  }
  EXPECT_EQ(got.gmems[0].flags_known, minor == 0 ? 0 : ~0ull) << "kernel guest_memfd, flags 0";
  EXPECT_EQ(got.gmems[3].flags_known, minor == 0 ? 0 : 1u) << "kernel guest_memfd, MMAP known";
  EXPECT_EQ(got.gmems[1].flags_known, ~0ull) << "a memfd's flags do not apply";
  EXPECT_EQ(got.gmems[2].policy_source, PolicySource::kInode) << "MODEL, bind";
  EXPECT_TRUE(got.gmems[2].policy == (Mempolicy{2, 0, {1}, -1})) << "MODEL, bind";
  EXPECT_EQ(got.gmems[2].flags_known, ~0ull) << "MODEL";
  const Mempolicy& mapped = got.gmems[3].mapping_policies.at(0).policy;
  EXPECT_EQ(mapped.home_node_seen, minor >= 2) << "kernel preferred-many naming home node 2";
  EXPECT_EQ(mapped.home_node, minor >= 2 ? 2 : -1);
}

TEST(SerializerHostileProto, OlderMinorsTakeAwayKernelPolicyClaims) {
  std::string blob;
  ASSERT_TRUE(EncodeProto(OldMinorPolicies(), &blob).ok());
  Result<FrameInfo> f = ReadFrame(blob, kFormatMajor);
  ASSERT_TRUE(f.ok());
  for (uint16_t minor : {0, 1, 2}) {
    SCOPED_TRACE(minor);
    std::string framed;
    WriteFrame(1, minor, std::string(f->payload), &framed);
    Snapshot got;
    ASSERT_TRUE(DecodeProto(framed, &got).ok());
    ExpectOldMinorReading(got, minor);
  }
  Snapshot now;  // the same payload as 1.3 says every policy as written
  ASSERT_TRUE(DecodeProto(blob, &now).ok());
  EXPECT_TRUE(now == OldMinorPolicies());
  for (const GuestMemfd& g : now.gmems) EXPECT_TRUE(g.policy_unread.empty()) << g.policy_unread;
}

TEST(SerializerHostileFdt, OlderMinorsTakeAwayKernelPolicyClaims) {
  for (uint16_t minor : {0, 1, 2}) {
    SCOPED_TRACE(minor);
    std::string blob;
    ASSERT_TRUE(EncodeFdt(OldMinorPolicies(), &blob).ok());
    const uint32_t version[2] = {1, minor};
    EditFdt(&blob, "/", "format-version", version, 8);
    Snapshot got;
    ASSERT_TRUE(DecodeFdt(blob, &got).ok());
    ExpectOldMinorReading(got, minor);
  }
  std::string blob;
  ASSERT_TRUE(EncodeFdt(OldMinorPolicies(), &blob).ok());
  Snapshot now;
  ASSERT_TRUE(DecodeFdt(blob, &now).ok());
  EXPECT_TRUE(now == OldMinorPolicies());
}

TEST(SerializerHostileProto, IndexPastSize) {
  pb::Snapshot m = BaseMessage();
  SetFolios(&m, {{0, 100, 10, 0, 1}, {1020, 200, 5, 0, 1}});
  ExpectError(DecodeMessage(m), Status::Code::kCorruption, "past size");
}

TEST(SerializerHostileProto, IndexNotAligned) {
  pb::Snapshot m = BaseMessage();
  SetFolios(&m, {{0, 100, 10, 0, 1}, {21, 200, 1, 1, 1}});
  ExpectError(DecodeMessage(m), Status::Code::kCorruption, "not aligned to folio order 1");
}

TEST(SerializerHostileProto, ExtentStreamTruncatedOrMiscounted) {
  pb::Snapshot m = BaseMessage();
  std::string stream = m.gmems(0).folio_extents();
  m.mutable_gmems(0)->set_folio_extents(stream.substr(0, stream.size() - 1));
  ExpectError(DecodeMessage(m), Status::Code::kCorruption, "truncated");
  m = BaseMessage();
  m.mutable_gmems(0)->set_nr_folio_extents(1);
  ExpectError(DecodeMessage(m), Status::Code::kCorruption, "bytes after the last record");
  m.mutable_gmems(0)->set_nr_folio_extents(1ull << 40);
  ExpectError(DecodeMessage(m), Status::Code::kCorruption, "cannot fit");
}

TEST(SerializerHostileProto, AttributeRangePastSize) {
  pb::Snapshot m = BaseMessage();
  std::string stream;
  EncodeAttributeStream({{1020, 10, kAttrPrivate}}, &stream);
  m.mutable_gmems(0)->set_attribute_ranges(stream);
  m.mutable_gmems(0)->set_nr_attribute_ranges(1);
  ExpectError(DecodeMessage(m), Status::Code::kCorruption, "attributes");
}

TEST(SerializerHostileProto, MemslotsOverlapping) {
  pb::Snapshot m = BaseMessage();
  m.mutable_vms(0)->mutable_memslots(1)->set_base_gfn(8);
  ExpectError(DecodeMessage(m), Status::Code::kCorruption, "gfns overlap memslots[0]");
  m = BaseMessage();
  m.mutable_vms(0)->mutable_memslots(1)->set_gmem_offset(8 * 4096);
  ExpectError(DecodeMessage(m), Status::Code::kCorruption, "gmem offsets overlap");
}

TEST(SerializerHostileProto, UnknownEnumValue) {
  pb::Snapshot m = BaseMessage();
  m.mutable_gmems(0)->set_backing(9);
  ExpectError(DecodeMessage(m), Status::Code::kUnsupported, "backing 9");
}

TEST(SerializerHostileEncode, EncodersRefuseBrokenSnapshots) {
  Snapshot s = Base();
  s.gmems[0].folios.push_back({1020, 300, 10, 0, 0});  // past size
  std::string out;
  ExpectError(EncodeFdt(s, &out), Status::Code::kInvalidArgument, "past size");
  ExpectError(EncodeProto(s, &out), Status::Code::kInvalidArgument, "past size");
  Snapshot n = Base();
  n.gmems[0].name = std::string("a\0b", 3);
  ExpectError(EncodeFdt(n, &out), Status::Code::kInvalidArgument, "NUL");
}

}  // namespace
}  // namespace khod
