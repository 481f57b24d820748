// The checked-in blobs of every released format version (1.0 to 1.3) keep
// decoding to their content (as serializer/older_minors.h reads an older
// one), today's encoder still writes the current version's byte for byte, standard tools read the
// FDT, and every single-bit flip and every truncation of them is detected.
#include <gtest/gtest.h>
#include <libfdt.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "common/xxh3.h"
#include "proto/snapshot.pb.h"
#include "serializer/format_version.h"
#include "serializer/frame.h"
#include "serializer/serializer.h"
#include "state/invariants.h"
#include "tests/serializer/golden_snapshot.h"
#include "tests/support/golden_paths.h"
#include "verify/snapshot_diff.h"

namespace khod {
namespace {

namespace pb = ::khod::snapshot::v1;

std::string ReadGolden(const char* name) {
  std::ifstream f(GoldenPath(kSnapshotGoldenDir, name), std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

struct Golden {
  BlobFormat format;
  const char* name;
  Snapshot (*content)();
  bool current;  // today's encoder writes it
};
const Golden kGoldens[] = {{BlobFormat::kFdt, kGoldenFdtName, GoldenSnapshot, false},
                           {BlobFormat::kProto, kGoldenProtoName, GoldenSnapshot, false},
                           {BlobFormat::kFdt, kGoldenV1_1FdtName, GoldenSnapshotV1_1, false},
                           {BlobFormat::kProto, kGoldenV1_1ProtoName, GoldenSnapshotV1_1, false},
                           {BlobFormat::kFdt, kGoldenV1_2FdtName, GoldenSnapshotV1_2, false},
                           {BlobFormat::kProto, kGoldenV1_2ProtoName, GoldenSnapshotV1_2, false},
                           {BlobFormat::kFdt, kGoldenV1_3FdtName, GoldenSnapshotV1_3, true},
                           {BlobFormat::kProto, kGoldenV1_3ProtoName, GoldenSnapshotV1_3, true}};

// The format minor of a golden's content.
int MinorOf(const Golden& g) { return g.content().header.format_minor; }

Snapshot DecodeGolden(const Golden& g) {
  Snapshot got;
  const Status s = DecodeAny(ReadGolden(g.name), &got);
  EXPECT_TRUE(s.ok()) << g.name << ": " << s.ToString();
  return got;
}

TEST(SerializerGolden, DecodesToExpectedContent) {
  for (const Golden& g : kGoldens) {
    SCOPED_TRACE(g.name);
    const Snapshot want = g.content();
    const std::string blob = ReadGolden(g.name);
    ASSERT_FALSE(blob.empty()) << "missing " << GoldenPath(kSnapshotGoldenDir, g.name);
    Snapshot got;
    BlobFormat format;
    const Status s = DecodeAny(blob, &got, &format);
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(format, g.format);
    EXPECT_TRUE(got == want);
    EXPECT_GE(got.gmems.size(), 3u);
    EXPECT_EQ(got.gmems[1].restructures.at(0).layout.size(), 2u);
    EXPECT_EQ(got.gmems[0].attributes.Get(905), kAttrPrivate | 0x10);
  }
}

// 1.0 blobs carry none of 1.1's fields: they decode as every page observed
// (what a 1.0 capture saw of a guest_memfd's pages is not known: left), but
// for what older_minors.h takes away of a kernel file. Its kernel
// guest_memfd's creation flags read as none shown by the kernel (flags 3 then
// a declaration), and its inode policy (interleave in the blob: one page's,
// read with get_mempolicy) as unknown. The MODEL and synthetic files read as
// written: every flag bit known, the inode's policy.
TEST(SerializerGolden, Version1_0DecodesAsItsProducerSawIt) {
  for (const Golden& g : kGoldens) {
    if (g.content != GoldenSnapshot) continue;
    SCOPED_TRACE(g.name);
    const Snapshot got = DecodeGolden(g);
    EXPECT_EQ(got.header.format_minor, 0);
    ASSERT_EQ(got.gmems.size(), 3u);
    for (const GuestMemfd& m : got.gmems) {
      EXPECT_TRUE(m.visibility.empty());
      EXPECT_TRUE(m.mapping_policies.empty());
      EXPECT_EQ(UnobservedPages(m, got.header.page_size), 0u);
    }
    const GuestMemfd& ram = got.gmems[0];
    ASSERT_EQ(ram.provenance, Provenance::kKernel);
    ASSERT_EQ(ram.kind, FileKind::kGuestMemfd);
    EXPECT_EQ(ram.flags_known, 0u) << "no flag bit shown by the kernel";
    EXPECT_EQ(ram.flags, 3u) << "the blob's value, as a declaration";
    EXPECT_EQ(ram.policy_source, PolicySource::kUnknown);
    EXPECT_TRUE(ram.policy == Mempolicy()) << "the interleave of one page is taken back";
    EXPECT_NE(ram.policy_unread.find("format 1.0: read at one page (get_mempolicy)"),
              std::string::npos)
        << ram.policy_unread;
    for (const GuestMemfd* m : {&got.gmems[1], &got.gmems[2]}) {  // MODEL, synthetic
      EXPECT_EQ(m->flags_known, ~0ull);
      EXPECT_EQ(m->policy_source, PolicySource::kInode);
      EXPECT_TRUE(m->policy_unread.empty());
    }
    EXPECT_EQ(got.gmems[1].policy.mode, 2) << "the MODEL's bind, as written";
  }
}

// A 1.0 blob's kernel guest_memfd verified against a 6.18 capture of the same
// file (its policy the VMM mapping's, MMAP|INIT_SHARED seen): nothing the 1.0
// producer did not see is called different. The policy and the creation
// flags are named not verified, with why.
TEST(SerializerGolden, Version1_0GuestMemfdIsNotVerifiedWhereItsProducerSawNothing) {
  for (const Golden& g : kGoldens) {
    if (g.content != GoldenSnapshot) continue;
    SCOPED_TRACE(g.name);
    const Snapshot frozen = DecodeGolden(g);
    Snapshot now = frozen;
    now.header.format_minor = kFormatMinor;
    GuestMemfd& ram = now.gmems[0];
    ram.flags_known = 3;
    ram.policy_source = PolicySource::kVmmMappings;
    ram.policy = Mempolicy();
    ram.mapping_policies = {{0, 1024, 4242, 0x7f118de1e000ull, Mempolicy{3, 0, {1}, -1}}};
    DiffOptions o;
    o.compare_inodes = false;  // after a kexec: the same file, another st_ino
    const SnapshotDiff d = DiffSnapshots(frozen, now, o);
    for (const Difference& x : d.differences)
      ADD_FAILURE() << x.field << ": expected " << x.expected << ", found " << x.found;
    std::string unverified;
    for (const UnverifiedGmem& u : d.unverified)
      if (u.token == 0x2a) unverified += u.ToString();
    EXPECT_NE(unverified.find("NUMA policy not read by the first capture: format 1.0"),
              std::string::npos)
        << unverified;
    EXPECT_NE(unverified.find("creation flag bits 0x3 not shown by the kernel"), std::string::npos)
        << unverified;
  }
}

TEST(SerializerGolden, Version1_1CarriesHowEachGmemWasObserved) {
  for (const Golden& g : kGoldens) {
    if (g.content == GoldenSnapshot) continue;
    SCOPED_TRACE(g.name);
    const Snapshot got = DecodeGolden(g);
    const int minor = MinorOf(g);
    EXPECT_EQ(got.header.format_minor, minor);
    ASSERT_EQ(got.gmems.size(), static_cast<size_t>(minor + 4));
    EXPECT_EQ(got.gmems[0].policy_source, PolicySource::kVmmMappings);
    ASSERT_EQ(got.gmems[0].mapping_policies.size(), minor == 1 ? 2u : 3u);
    EXPECT_EQ(got.gmems[0].mapping_policies[1].policy.nodemask, (std::vector<uint64_t>{1, 1}));
    EXPECT_EQ(UnobservedPages(got.gmems[0], 4096), 100u);
    EXPECT_EQ(UnobservedPages(got.gmems[3], 4096), 256u);
    EXPECT_EQ(got.gmems[4].visibility.at(0).visibility, PageVisibility::kNone);
    EXPECT_EQ(got.gmems[4].flags_known, 1u);
  }
}

// A 1.0 or 1.1 producer never saw a kernel policy's home node: its kernel
// bind policy, recorded with none, reads as not seen; a model's stays seen.
TEST(SerializerGolden, OlderMinorsReadAKernelBindPolicysHomeNodeAsNotSeen) {
  for (const Golden& g : kGoldens) {
    if (MinorOf(g) >= 2) continue;
    SCOPED_TRACE(g.name);
    const Snapshot got = DecodeGolden(g);
    EXPECT_TRUE(got.gmems[0].policy.home_node_seen) << "an interleave policy has no home node";
    EXPECT_TRUE(got.gmems[1].policy.home_node_seen) << "the model's home node 1";
    EXPECT_EQ(got.gmems[1].policy.home_node, 1);
    if (g.content == GoldenSnapshot) continue;
    ASSERT_EQ(got.gmems[0].mapping_policies.size(), 2u);
    EXPECT_TRUE(got.gmems[0].mapping_policies[0].policy.home_node_seen);
    EXPECT_FALSE(got.gmems[0].mapping_policies[1].policy.home_node_seen);
  }
}

// 1.2 says for each policy whether its home node was seen, in both forms.
TEST(SerializerGolden, Version1_2CarriesWhetherEachHomeNodeWasSeen) {
  for (const Golden& g : kGoldens) {
    if (MinorOf(g) < 2) continue;
    SCOPED_TRACE(g.name);
    const Snapshot got = DecodeGolden(g);
    const std::vector<MappingPolicy>& m = got.gmems[0].mapping_policies;
    ASSERT_EQ(m.size(), 3u);
    EXPECT_TRUE(m[1].policy.home_node_seen);
    EXPECT_EQ(m[1].policy.home_node, 0);
    EXPECT_FALSE(m[2].policy.home_node_seen);
  }
}

// A 1.2 producer read a shmem memfd's policy at one page (get_mempolicy):
// the 1.2 golden's kernel shmem memfd, an inode bind policy in the blob,
// reads as unknown, the policy the default, saying why. The policies of the
// VMM's mappings (read per mapping) and the MODEL's inode policy stay.
TEST(SerializerGolden, Version1_2KernelInodePolicyReadsAsUnknown) {
  for (const Golden& g : kGoldens) {
    if (MinorOf(g) != 2) continue;
    SCOPED_TRACE(g.name);
    const Snapshot got = DecodeGolden(g);
    const GuestMemfd& shmem = got.gmems.at(5);
    ASSERT_EQ(shmem.kind, FileKind::kShmemMemfd);
    ASSERT_EQ(shmem.provenance, Provenance::kKernel);
    EXPECT_EQ(shmem.policy_source, PolicySource::kUnknown);
    EXPECT_TRUE(shmem.policy == Mempolicy());
    EXPECT_EQ(shmem.policy_unread,
              "format 1.2: read at one page (get_mempolicy), not the file's whole shared policy");
    EXPECT_EQ(got.gmems[0].mapping_policies.at(1).policy.mode, 2);
    EXPECT_EQ(got.gmems[1].policy_source, PolicySource::kInode);
    EXPECT_EQ(got.gmems[1].policy.home_node, 1);
    EXPECT_EQ(got.gmems[0].flags_known, 3u) << "only a 1.0 blob has no flags_known";
  }
}

// 1.3: an inode policy is the file's whole shared policy, and reads as
// written; a HugeTLB memfd's is its mappings'.
TEST(SerializerGolden, Version1_3InodePolicyReadsAsWritten) {
  for (const Golden& g : kGoldens) {
    if (MinorOf(g) != 3) continue;
    SCOPED_TRACE(g.name);
    const Snapshot got = DecodeGolden(g);
    ASSERT_EQ(got.gmems.size(), 7u);
    const GuestMemfd& shmem = got.gmems[5];
    EXPECT_EQ(shmem.policy_source, PolicySource::kInode);
    EXPECT_TRUE(shmem.policy == (Mempolicy{2, 0, {0x1}, 0}));
    EXPECT_TRUE(shmem.policy.home_node_seen);
    EXPECT_TRUE(shmem.policy_unread.empty()) << shmem.policy_unread;
    const GuestMemfd& huge = got.gmems[6];
    EXPECT_EQ(huge.kind, FileKind::kHugetlbMemfd);
    EXPECT_EQ(huge.policy_source, PolicySource::kVmmMappings);
    ASSERT_EQ(huge.mapping_policies.size(), 1u);
    EXPECT_EQ(huge.mapping_policies[0].policy.mode, 2);
  }
}

// The compatibles of a blob's nodes, and by compatible the property names
// and the table record size.
struct FdtShape {
  std::set<std::string> compatibles;
  std::map<std::string, std::set<std::string>> properties;  // by compatible
  std::map<std::string, uint32_t> record_sizes;             // by compatible
};

FdtShape ShapeOf(const std::string& blob) {
  FdtShape s;
  const void* fdt = blob.data();
  int depth = 0;
  // fdt_next_node returns the offset past the root's end (not an error) when depth drops below 0.
  for (int node = 0; node >= 0 && depth >= 0; node = fdt_next_node(fdt, node, &depth)) {
    const char* compat = static_cast<const char*>(fdt_getprop(fdt, node, "compatible", nullptr));
    const std::string c = compat ? compat : "";
    s.compatibles.insert(c);
    int prop;
    fdt_for_each_property_offset(prop, fdt, node) {
      const char* name;
      int len;
      const void* v = fdt_getprop_by_offset(fdt, prop, &name, &len);
      s.properties[c].insert(name);
      if (std::string(name) == "record-size" && len == 4) {
        uint32_t rs;
        std::memcpy(&rs, v, 4);
        s.record_sizes[c] = rs;
      }
    }
  }
  return s;
}

// Every field set in `m` and below is one of its schema's: no unknown field.
void ExpectNoUnknownFields(const google::protobuf::Message& m, const std::string& where) {
  const google::protobuf::Reflection* r = m.GetReflection();
  EXPECT_TRUE(r->GetUnknownFields(m).empty()) << where << " holds fields of no schema";
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  r->ListFields(m, &fields);
  for (const google::protobuf::FieldDescriptor* f : fields) {
    if (f->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (f->is_repeated()) {
      for (int i = 0; i < r->FieldSize(m, f); ++i)
        ExpectNoUnknownFields(r->GetRepeatedMessage(m, f, i), where + "." + f->name());
    } else {
      ExpectNoUnknownFields(r->GetMessage(m, f), where + "." + f->name());
    }
  }
}

// 1.3 adds no bytes: a 1.2 reader (stop 37), which accepts a newer minor,
// finds in the 1.3 golden nothing its version lacks. FDT: every compatible
// and every property name of each is one the 1.2 golden has, and each table
// record is the size it is there (a 1.2 reader refuses no newer minor's
// record, but would read a longer one by its prefix). Proto: the frame header
// is 1.2's 40 bytes and the payload holds only fields of the 1.2 schema
// (proto/snapshot.proto, unchanged by 1.3), with no policy flag a 1.2 reader
// refuses (the mapping-policy record's policy_flags only 0 or 1).
TEST(SerializerGolden, Version1_3HoldsNothingA1_2ReaderDoesNotKnow) {
  const FdtShape v12 = ShapeOf(ReadGolden(kGoldenV1_2FdtName));
  const std::string fdt13 = ReadGolden(kGoldenV1_3FdtName);
  ASSERT_FALSE(fdt13.empty());
  const FdtShape v13 = ShapeOf(fdt13);
  ASSERT_EQ(v13.compatibles.size(), 12u);
  ASSERT_TRUE(v13.properties.count("khod,guest-memfd-v1"));
  EXPECT_TRUE(v13.properties.at("khod,guest-memfd-v1").count("policy-source"));
  EXPECT_EQ(v13.record_sizes.at("khod,mapping-policies-v1"), 56u);
  for (const std::string& c : v13.compatibles)
    EXPECT_TRUE(v12.compatibles.count(c)) << "node compatible '" << c << "' new in 1.3";
  for (const auto& [c, names] : v13.properties)
    for (const std::string& p : names)
      EXPECT_TRUE(v12.properties.count(c) && v12.properties.at(c).count(p))
          << c << ": property '" << p << "' new in 1.3";
  EXPECT_EQ(v13.record_sizes, v12.record_sizes);
  const int mp = fdt_path_offset(fdt13.data(), "/gmem-2a/mapping-policies");
  ASSERT_GE(mp, 0);
  int len = 0;
  const uint8_t* recs = static_cast<const uint8_t*>(fdt_getprop(fdt13.data(), mp, "chunk-0", &len));
  ASSERT_TRUE(recs != nullptr && len % 56 == 0);
  for (int i = 0; i < len; i += 56) {
    uint32_t flags;
    std::memcpy(&flags, recs + i + 48, 4);
    EXPECT_LE(flags, 1u) << "record " << i / 56 << ": a policy flag 1.2 does not know";
  }

  const std::string proto13 = ReadGolden(kGoldenV1_3ProtoName);
  Result<FrameInfo> f = ReadFrame(proto13, kFormatMajor);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->major, 1);
  EXPECT_EQ(f->minor, 3);
  uint32_t header_size;
  std::memcpy(&header_size, proto13.data() + 12, 4);
  EXPECT_EQ(header_size, 40u);
  pb::Snapshot m;
  ASSERT_TRUE(m.ParseFromArray(f->payload.data(), static_cast<int>(f->payload.size())));
  ExpectNoUnknownFields(m, "Snapshot");
}

TEST(SerializerGolden, EncoderStillWritesTheSameBytes) {
  for (const Golden& g : kGoldens) {
    if (!g.current) continue;  // an older version's blobs are only read
    SCOPED_TRACE(g.name);
    std::string blob;
    ASSERT_TRUE(Encode(g.content(), g.format, &blob).ok());
    EXPECT_EQ(blob, ReadGolden(g.name));
  }
}

std::string RunTool(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

TEST(SerializerGolden, FdtdumpAndDtcReadTheBlob) {
  const std::string path = GoldenPath(kSnapshotGoldenDir, kGoldenFdtName);
  if (std::system("command -v fdtdump >/dev/null 2>&1") != 0) GTEST_SKIP() << "no fdtdump";
  const std::string dump = RunTool("fdtdump '" + path + "' 2>&1");
  EXPECT_NE(dump.find("compatible = \"khod,snapshot-v1\""), std::string::npos) << dump;
  EXPECT_NE(dump.find("gmem-2b {"), std::string::npos) << dump;
  EXPECT_NE(dump.find("khod,restructure-records-v1"), std::string::npos) << dump;
  const std::string dump11 =
      RunTool("fdtdump '" + GoldenPath(kSnapshotGoldenDir, kGoldenV1_1FdtName) + "' 2>&1");
  EXPECT_NE(dump11.find("khod,visibility-ranges-v1"), std::string::npos) << dump11;
  EXPECT_NE(dump11.find("khod,mapping-policies-v1"), std::string::npos) << dump11;
  EXPECT_NE(dump11.find("policy-source"), std::string::npos) << dump11;
  const std::string dump12 =
      RunTool("fdtdump '" + GoldenPath(kSnapshotGoldenDir, kGoldenV1_2FdtName) + "' 2>&1");
  EXPECT_NE(dump12.find("mempolicy-home-node-unseen;"), std::string::npos) << dump12;
  if (std::system("command -v dtc >/dev/null 2>&1") != 0) return;
  const std::string dts = RunTool("dtc -I dtb -O dts '" + path + "' 2>/dev/null");
  EXPECT_NE(dts.find("vm-10 {"), std::string::npos) << dts;
  EXPECT_NE(dts.find("name = \"vm0-huge\""), std::string::npos) << dts;
}

// Every bit of the blob flipped alone must be refused: the FDT's whole-blob
// checksum and the frame's two checksums leave no byte uncovered.
// By the blob's own checksum, and by a record's XXH3 of the blob in its stead
// (CodecOptions::recorded_xxh3), on the caller's thread and beside the decode.
TEST(SerializerGolden, EveryBitFlipIsDetected) {
  for (const Golden& g : kGoldens) {
    const std::string blob = ReadGolden(g.name);
    ASSERT_FALSE(blob.empty()) << g.name;
    const std::optional<uint64_t> recorded[] = {std::nullopt, Xxh3(blob.data(), blob.size())};
    for (const std::optional<uint64_t>& r : recorded)
      for (int threads : {1, 2}) {
        SCOPED_TRACE(std::string(g.name) + (r ? ", recorded XXH3" : ", own checksum") + ", " +
                     std::to_string(threads) + " threads");
        CodecOptions opts(threads);
        opts.recorded_xxh3 = r;
        size_t undetected = 0;
        for (size_t i = 0; i < blob.size(); ++i) {
          for (int bit = 0; bit < 8; ++bit) {
            std::string bad = blob;
            bad[i] = static_cast<char>(bad[i] ^ (1 << bit));
            Snapshot out;
            const Status s = DecodeAny(bad, &out, nullptr, opts);
            if (s.ok()) {
              ++undetected;
              // Never a broken snapshot, even if a flip slipped through.
              EXPECT_TRUE(CheckInvariants(out).empty()) << "byte " << i << " bit " << bit;
            }
          }
        }
        EXPECT_EQ(undetected, 0u);
      }
  }
}

// Where the blob's own checksum field is off (8 bytes no other check reads
// but the frame's header checksum, resealed here),
// the record's XXH3 of those very bytes is what decides: the bytes are
// hashed once, against the record, and the own checksum is not computed. One
// record that is not theirs refuses them, naming both values, and leaves
// *out as it was.
TEST(SerializerGolden, ARecordedChecksumStandsInForTheBlobsOwn) {
  for (const Golden& g : kGoldens) {
    SCOPED_TRACE(g.name);
    std::string blob = ReadGolden(g.name);
    ASSERT_FALSE(blob.empty());
    size_t own_checksum_at = 24;  // the frame's payload_xxh3
    if (g.format == BlobFormat::kFdt) {
      int len = 0;
      const void* sum = fdt_getprop(blob.data(), 0, "checksum", &len);
      ASSERT_TRUE(sum != nullptr && len == 8);
      own_checksum_at = static_cast<const char*>(sum) - blob.data();
    }
    blob[own_checksum_at + 3] ^= 0x10;
    if (g.format == BlobFormat::kProto) {  // the frame's header checksum covers the field
      uint32_t header_size;
      std::memcpy(&header_size, blob.data() + 12, 4);
      const uint64_t header_xxh3 = Xxh3(blob.data(), header_size - 8);
      std::memcpy(&blob[header_size - 8], &header_xxh3, 8);
    }
    Snapshot out;
    EXPECT_EQ(DecodeAny(blob, &out).code(), Status::Code::kCorruption);
    for (int threads : {1, 2}) {
      CodecOptions opts(threads);
      opts.recorded_xxh3 = Xxh3(blob.data(), blob.size());
      Snapshot decoded;
      const Status s = DecodeAny(blob, &decoded, nullptr, opts);
      ASSERT_TRUE(s.ok()) << threads << ": " << s.ToString();
      EXPECT_TRUE(decoded == g.content()) << threads;

      *opts.recorded_xxh3 ^= 1;
      Snapshot untouched = g.content();
      const Status off = DecodeAny(blob, &untouched, nullptr, opts);
      EXPECT_EQ(off.code(), Status::Code::kCorruption) << threads;
      EXPECT_NE(off.message().find("does not match the XXH3 recorded for it"), std::string::npos)
          << off.ToString();
      EXPECT_TRUE(untouched == g.content()) << threads;
    }
  }
}

TEST(SerializerGolden, EveryTruncationIsDetected) {
  for (const Golden& g : kGoldens) {
    SCOPED_TRACE(g.name);
    const std::string blob = ReadGolden(g.name);
    ASSERT_FALSE(blob.empty());
    for (size_t len = 0; len < blob.size(); ++len) {
      Snapshot out;
      const Status s = DecodeAny(std::string_view(blob.data(), len), &out);
      EXPECT_FALSE(s.ok()) << "truncated to " << len << " bytes decoded";
      if (len >= 8) {  // past the magic, the message names the problem
        EXPECT_EQ(s.code(), Status::Code::kCorruption) << len << ": " << s.ToString();
      }
    }
  }
}

}  // namespace
}  // namespace khod
