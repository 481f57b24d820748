// The protobuf payload's varint streams: exact round trips at the extremes,
// and every truncation or overlong varint refused.
#include "serializer/varint_tables.h"

#include <gtest/gtest.h>

#include <random>

namespace khod {
namespace {

FolioList RandomExtents(uint64_t seed, size_t n) {
  std::mt19937_64 rng(seed);
  FolioList v;
  uint64_t index = 0;
  for (size_t i = 0; i < n; ++i) {
    FolioExtent e;
    e.order = static_cast<uint8_t>(rng() % 19);
    const uint64_t align = (uint64_t{1} << e.order) - 1;
    index = (((index + align) >> e.order) + rng() % 4) << e.order;  // aligned, never backwards
    e.first_index = index;
    e.nr_folios = static_cast<uint32_t>(1 + rng() % 300);
    e.first_pfn = rng() % 5 == 0 ? kPfnUnknown : rng();
    if (e.first_pfn != kPfnUnknown && e.first_pfn > ~0ull - e.pages()) e.first_pfn >>= 1;
    e.flags = static_cast<uint8_t>(rng());
    v.push_back(e);
    index = e.end_index();
  }
  return v;
}

TEST(FolioStream, RandomRoundTrip) {
  for (uint64_t seed = 0; seed < 50; ++seed) {
    const auto extents = RandomExtents(seed, 1 + seed * 10);
    std::string stream;
    EncodeFolioStream(extents, &stream);
    FolioList got;
    const Status s = DecodeFolioStream(stream, extents.size(), &got);
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(got, extents);
  }
}

TEST(FolioStream, EveryTruncationIsRefused) {
  const auto extents = RandomExtents(3, 40);
  std::string stream;
  EncodeFolioStream(extents, &stream);
  FolioList got;
  for (size_t len = 0; len < stream.size(); ++len)
    EXPECT_FALSE(DecodeFolioStream(std::string_view(stream.data(), len), extents.size(), &got).ok())
        << len;
}

TEST(FolioStream, RunsOf214PagesCostAboutSixBytes) {
  FolioList extents;
  uint64_t pfn = 1 << 20;
  for (uint64_t i = 0; i < 10000; ++i, pfn += 214 + 9) extents.push_back({i * 214, pfn, 214, 0, 3});
  std::string stream;
  EncodeFolioStream(extents, &stream);
  EXPECT_LE(stream.size(), 6 * extents.size() + 8);  // + the first record's absolute PFN
}

TEST(FolioStream, RefusesOverflowAndReservedBits) {
  std::string stream;
  EncodeFolioStream({{~0ull - 3, kPfnUnknown, 1, 0, 0}}, &stream);
  std::string twice = stream + stream;  // second record starts past 2^64
  FolioList got;
  EXPECT_EQ(DecodeFolioStream(twice, 2, &got).code(), Status::Code::kCorruption);
  const std::string reserved("\x00\x01\x40\x00", 4);  // gap 0, nr 1, order byte bit 6, flags
  EXPECT_NE(DecodeFolioStream(reserved, 1, &got).message().find("reserved"), std::string::npos);
}

TEST(AttributeAndHashStreams, RoundTripAndRefuseZeroes) {
  const std::vector<AttributeRange> ranges = {{0, 1, 8}, {5, 100, ~0ull}, {1ull << 40, 3, 1}};
  std::string stream;
  EncodeAttributeStream(ranges, &stream);
  std::vector<AttributeRange> got;
  ASSERT_TRUE(DecodeAttributeStream(stream, ranges.size(), &got).ok());
  EXPECT_EQ(got, ranges);
  EncodeAttributeStream({{0, 1, 0}}, &stream);
  EXPECT_NE(DecodeAttributeStream(stream, 1, &got).message().find("value 0"), std::string::npos);

  const std::vector<ContentHash> hashes = {{0, 1, ~0ull}, {9, 7, 0x1234}};
  EncodeHashStream(hashes, &stream);
  std::vector<ContentHash> got_h;
  ASSERT_TRUE(DecodeHashStream(stream, hashes.size(), &got_h).ok());
  EXPECT_EQ(got_h, hashes);
  EXPECT_FALSE(DecodeHashStream(stream.substr(0, stream.size() - 1), 2, &got_h).ok());
}

}  // namespace
}  // namespace khod
