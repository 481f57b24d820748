// Round trips state -> FDT -> state -> proto -> state over random snapshots of
// every shape: the two formats must hold exactly the same content.
#include <gtest/gtest.h>

#include "serializer/serializer.h"
#include "state/invariants.h"
#include "tests/support/random_snapshot.h"

namespace khod {
namespace {

std::string Describe(const std::vector<Violation>& v) {
  std::string s;
  for (const auto& x : v) s += x.where + ": " + x.what + "\n";
  return s;
}

void ExpectRoundTrip(const Snapshot& snap) {
  ASSERT_TRUE(CheckInvariants(snap).empty()) << Describe(CheckInvariants(snap));
  std::string fdt;
  ASSERT_TRUE(EncodeFdt(snap, &fdt).ok()) << EncodeFdt(snap, &fdt).ToString();
  Snapshot from_fdt;
  Status s = DecodeFdt(fdt, &from_fdt);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(from_fdt == snap);
  std::string proto;
  s = EncodeProto(from_fdt, &proto);
  ASSERT_TRUE(s.ok()) << s.ToString();
  Snapshot from_proto;
  s = DecodeProto(proto, &from_proto);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(from_proto == snap);
  // Encoding is deterministic: the same content gives the same bytes.
  std::string fdt2, proto2;
  ASSERT_TRUE(EncodeFdt(from_proto, &fdt2).ok());
  ASSERT_TRUE(EncodeProto(from_proto, &proto2).ok());
  EXPECT_EQ(fdt, fdt2);
  EXPECT_EQ(proto, proto2);
}

TEST(SerializerRoundTrip, EmptySnapshot) { ExpectRoundTrip(Snapshot{}); }

TEST(SerializerRoundTrip, EachShapeAlone) {
  for (int shape = 0; shape < kGmemShapeCount; ++shape) {
    for (uint64_t seed = 0; seed < 5; ++seed) {
      SCOPED_TRACE("shape " + std::to_string(shape) + " seed " + std::to_string(seed));
      std::mt19937_64 rng(seed * 100 + shape);
      Snapshot snap;
      snap.gmems.push_back(RandomGmem(rng, static_cast<GmemShape>(shape), 42));
      ExpectRoundTrip(snap);
    }
  }
}

TEST(SerializerRoundTrip, RandomSnapshots) {
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    ExpectRoundTrip(RandomSnapshot(seed));
    if (HasFatalFailure()) return;
  }
}

TEST(SerializerRoundTrip, UnknownPfnsAndExtremeValues) {
  Snapshot snap;
  snap.header.capture_time_ns = ~0ull;
  snap.header.page_size = 1u << 16;
  GuestMemfd g;
  g.token = ~0ull;
  g.inode = ~0ull;
  g.size = uint64_t{1} << 60;
  g.flags = ~0ull;
  g.policy.mode = -7;
  g.policy.home_node = INT32_MIN;
  g.policy.mode_flags = ~0u;
  g.folios = {{0, kPfnUnknown, 3, 0, 0xff},
              {3, 0, 1, 0, 0},
              {4, kPfnUnknown - 1, 1, 0, 1},  // PFN deltas wrap around in the stream
              {5, 1, UINT32_MAX, 0, 2},
              {(uint64_t{1} << 44) - 1, kPfnUnknown, 1, 0, 0}};
  g.attributes.Set(0, 1, ~0ull);
  g.attributes.Set((uint64_t{1} << 44) - 5, 5, 1);
  g.hashes = {{0, 1, ~0ull}, {(uint64_t{1} << 44) - 1, 1, 0}};
  snap.gmems.push_back(g);
  ExpectRoundTrip(snap);
}

TEST(SerializerRoundTrip, DetectFormatByMagic) {
  Snapshot snap = RandomSnapshot(7);
  std::string fdt, proto;
  ASSERT_TRUE(Encode(snap, BlobFormat::kFdt, &fdt).ok());
  ASSERT_TRUE(Encode(snap, BlobFormat::kProto, &proto).ok());
  EXPECT_EQ(*DetectFormat(fdt), BlobFormat::kFdt);
  EXPECT_EQ(*DetectFormat(proto), BlobFormat::kProto);
  EXPECT_EQ(DetectFormat("hello world").status().code(), Status::Code::kCorruption);
  Snapshot a, b;
  BlobFormat f;
  ASSERT_TRUE(DecodeAny(fdt, &a, &f).ok());
  EXPECT_EQ(f, BlobFormat::kFdt);
  ASSERT_TRUE(DecodeAny(proto, &b, &f).ok());
  EXPECT_EQ(f, BlobFormat::kProto);
  EXPECT_TRUE(a == snap);
  EXPECT_TRUE(b == snap);
}

// An FDT blob given another capture time in place is byte for byte the
// blob of the snapshot with that time, over snapshots of every shape; the
// two byte ranges it names are the only ones changed.
TEST(SerializerRoundTrip, CaptureTimeSetInPlaceIsWhatEncodingMakes) {
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    Snapshot snap = RandomSnapshot(seed);
    std::string blob;
    ASSERT_TRUE(EncodeFdt(snap, &blob).ok());
    const std::string before = blob;
    snap.header.capture_time_ns = snap.header.capture_time_ns * 3 + seed;
    Result<std::vector<ByteRange>> changed = SetFdtCaptureTime(&blob, snap.header.capture_time_ns);
    ASSERT_TRUE(changed.ok()) << changed.status().ToString();
    std::string encoded;
    ASSERT_TRUE(EncodeFdt(snap, &encoded).ok());
    EXPECT_TRUE(blob == encoded);
    ASSERT_EQ(changed->size(), 2u);
    std::string outside = before;
    for (const ByteRange& r : *changed) {
      EXPECT_EQ(r.end - r.begin, 8u);
      outside.replace(r.begin, 8, blob, r.begin, 8);
    }
    EXPECT_TRUE(outside == blob);  // nothing else differs from the blob it was
    Snapshot decoded;
    ASSERT_TRUE(DecodeFdt(blob, &decoded).ok());
    EXPECT_EQ(decoded.header.capture_time_ns, snap.header.capture_time_ns);
  }
}

TEST(SerializerRoundTrip, CaptureTimeIsSetOnlyInAWholeKhodFdt) {
  Snapshot snap = RandomSnapshot(3);
  std::string fdt, proto;
  ASSERT_TRUE(EncodeFdt(snap, &fdt).ok());
  ASSERT_TRUE(EncodeProto(snap, &proto).ok());
  std::string cut = fdt.substr(0, fdt.size() - 4);
  std::string longer = fdt + "tail";
  std::string empty;
  for (std::string* b : {&proto, &cut, &longer, &empty}) {
    const std::string was = *b;
    Result<std::vector<ByteRange>> r = SetFdtCaptureTime(b, 1);
    EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
    EXPECT_NE(r.status().message().find("fdt capture time"), std::string::npos);
    EXPECT_EQ(*b, was);  // left as it was
  }
}

}  // namespace
}  // namespace khod
