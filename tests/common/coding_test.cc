// common/coding: fixed-width integers are little-endian byte for byte on any
// host, varints round-trip at the extremes, and a truncated or overlong varint
// is refused without reading past its end.
#include "common/coding.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace khod {
namespace {

TEST(Coding, FixedWidthIsLittleEndian) {
  uint8_t b[8];
  EncodeFixed16(b, 0x0102);
  EXPECT_EQ(b[0], 0x02);
  EXPECT_EQ(b[1], 0x01);
  EXPECT_EQ(DecodeFixed16(b), 0x0102);
  EncodeFixed32(b, 0x01020304);
  EXPECT_EQ(b[0], 0x04);
  EXPECT_EQ(b[3], 0x01);
  EXPECT_EQ(DecodeFixed32(b), 0x01020304u);
  EncodeFixed64(b, 0x0102030405060708ull);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(b[i], 8 - i) << i;
  EXPECT_EQ(DecodeFixed64(b), 0x0102030405060708ull);
  EncodeFixed64(b, ~0ull);
  EXPECT_EQ(DecodeFixed64(b), ~0ull);
}

TEST(Coding, PutFixed64AppendsEightBytes) {
  std::string s = "ab";
  PutFixed64(&s, 0x8877665544332211ull);
  ASSERT_EQ(s.size(), 10u);
  EXPECT_EQ(s.substr(0, 2), "ab");
  EXPECT_EQ(static_cast<uint8_t>(s[2]), 0x11);
  EXPECT_EQ(static_cast<uint8_t>(s[9]), 0x88);
  EXPECT_EQ(DecodeFixed64(s.data() + 2), 0x8877665544332211ull);
}

TEST(Coding, VarintRoundTripsExtremes) {
  for (uint64_t v : {0ull, 1ull, 127ull, 128ull, 16383ull, 16384ull, ~0ull >> 1, ~0ull}) {
    uint8_t buf[kMaxVarint64Bytes];
    uint8_t* end = EncodeVarint64(buf, v);
    EXPECT_EQ(end - buf, VarintLength(v)) << v;
    const uint8_t* p = buf;
    uint64_t got = 0;
    ASSERT_TRUE(GetVarint64(&p, end, &got));
    EXPECT_EQ(got, v);
    EXPECT_EQ(p, end);
    p = buf;
    EXPECT_FALSE(GetVarint64(&p, end - 1, &got)) << v;  // one byte short
    EXPECT_EQ(p, buf) << "a refused varint leaves the cursor where it was";
  }
  EXPECT_EQ(VarintLength(0), 1);
  EXPECT_EQ(VarintLength(~0ull), kMaxVarint64Bytes);
  for (int64_t v : {int64_t{0}, int64_t{-1}, int64_t{1}, INT64_MIN, INT64_MAX})
    EXPECT_EQ(ZigZagDecode64(ZigZagEncode64(v)), v);
  EXPECT_EQ(ZigZagEncode64(-1), 1u);
  EXPECT_EQ(ZigZagEncode64(1), 2u);
}

TEST(Coding, VarintRejectsOverlong) {
  const uint8_t eleven[11] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
  const uint8_t* p = eleven;
  uint64_t v;
  EXPECT_FALSE(GetVarint64(&p, eleven + 11, &v));
  const uint8_t too_big[10] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02};
  p = too_big;
  EXPECT_FALSE(GetVarint64(&p, too_big + 10, &v));
  const uint8_t empty[1] = {0};
  p = empty;
  EXPECT_FALSE(GetVarint64(&p, empty, &v));
}

}  // namespace
}  // namespace khod
