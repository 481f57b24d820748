// The checked-in blobs of every released format version (1.0, 1.1, 1.2) keep
// decoding to their content, today's encoder still writes the current
// version's byte for byte, standard tools read the FDT, and every single-bit
// flip and every truncation of them is detected.
#include <gtest/gtest.h>
#include <libfdt.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>

#include "common/xxh3.h"
#include "serializer/serializer.h"
#include "state/invariants.h"
#include "tests/serializer/golden_snapshot.h"
#include "tests/support/golden_paths.h"

namespace khod {
namespace {

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
                           {BlobFormat::kFdt, kGoldenV1_2FdtName, GoldenSnapshotV1_2, true},
                           {BlobFormat::kProto, kGoldenV1_2ProtoName, GoldenSnapshotV1_2, true}};

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

// 1.0 blobs carry none of 1.1's fields: they decode as everything observed,
// every flag bit known and the inode's policy, as they were written.
TEST(SerializerGolden, Version1_0DecodesAsFullyObserved) {
  for (const Golden& g : kGoldens) {
    if (g.content != GoldenSnapshot) continue;
    SCOPED_TRACE(g.name);
    const Snapshot got = DecodeGolden(g);
    EXPECT_EQ(got.header.format_minor, 0);
    for (const GuestMemfd& m : got.gmems) {
      EXPECT_EQ(m.flags_known, ~0ull);
      EXPECT_EQ(m.policy_source, PolicySource::kInode);
      EXPECT_TRUE(m.visibility.empty());
      EXPECT_TRUE(m.mapping_policies.empty());
      EXPECT_EQ(UnobservedPages(m, got.header.page_size), 0u);
    }
    EXPECT_EQ(got.gmems[0].policy.mode, 3) << "the inode's interleave";
  }
}

TEST(SerializerGolden, Version1_1CarriesHowEachGmemWasObserved) {
  for (const Golden& g : kGoldens) {
    if (g.content == GoldenSnapshot) continue;
    SCOPED_TRACE(g.name);
    const Snapshot got = DecodeGolden(g);
    EXPECT_EQ(got.header.format_minor, g.current ? 2 : 1);
    ASSERT_EQ(got.gmems.size(), g.current ? 6u : 5u);
    EXPECT_EQ(got.gmems[0].policy_source, PolicySource::kVmmMappings);
    ASSERT_EQ(got.gmems[0].mapping_policies.size(), g.current ? 3u : 2u);
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
    if (g.current) continue;
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
    if (!g.current) continue;
    SCOPED_TRACE(g.name);
    const Snapshot got = DecodeGolden(g);
    const std::vector<MappingPolicy>& m = got.gmems[0].mapping_policies;
    ASSERT_EQ(m.size(), 3u);
    EXPECT_TRUE(m[1].policy.home_node_seen);
    EXPECT_EQ(m[1].policy.home_node, 0);
    EXPECT_FALSE(m[2].policy.home_node_seen);
    EXPECT_FALSE(got.gmems.at(5).policy.home_node_seen);
    EXPECT_EQ(got.gmems[5].policy.mode, 2);
  }
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
