// common/coding: fixed-width integers are little-endian byte for byte on any
// host, big-endian ones (the FDT's own) most significant byte first, native
// ones the host's bytes at any alignment, varints round-trip at the extremes,
// and a truncated or overlong varint is refused without reading past its end.
#include "common/coding.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
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

TEST(Coding, BigEndianIsMostSignificantByteFirst) {
  uint8_t b[5] = {0xaa, 0, 0, 0, 0};
  EncodeBigEndian32(b + 1, 0xd00dfeed);  // the FDT magic, as every FDT starts
  EXPECT_EQ(b[0], 0xaa) << "wrote before dst";
  EXPECT_EQ(b[1], 0xd0);
  EXPECT_EQ(b[2], 0x0d);
  EXPECT_EQ(b[3], 0xfe);
  EXPECT_EQ(b[4], 0xed);
  EXPECT_EQ(DecodeBigEndian32(b + 1), 0xd00dfeedu);  // at an odd address
  const uint8_t seventeen[4] = {0, 0, 0, 17};        // an FDT header's version
  EXPECT_EQ(DecodeBigEndian32(seventeen), 17u);
  for (uint32_t v : {0u, 1u, 0x80u, 0x01020304u, 0x80000000u, ~0u}) {
    EncodeBigEndian32(b, v);
    EXPECT_EQ(DecodeBigEndian32(b), v);
    uint8_t le[4];
    EncodeFixed32(le, v);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(b[i], le[3 - i]) << v << " byte " << i;
  }
}

TEST(Coding, NativeIsTheHostsByteOrderAtAnyAlignment) {
  // Bytes as the host stores the integer: a memcpy of it.
  auto host_bytes = [](auto v) {
    std::string s(sizeof v, '\0');
    std::memcpy(&s[0], &v, sizeof v);
    return s;
  };
  uint8_t buf[9 + 8];
  uint8_t* odd = buf + 1;  // FDT property values are only 4-byte aligned; records less
  EncodeNative16(odd, 0x0102);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(odd), 2), host_bytes(uint16_t{0x0102}));
  EXPECT_EQ(DecodeNative16(odd), 0x0102);
  EncodeNative32(odd, 0x01020304u);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(odd), 4), host_bytes(uint32_t{0x01020304u}));
  EXPECT_EQ(DecodeNative32(odd), 0x01020304u);
  EncodeNative64(odd, 0x0102030405060708ull);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(odd), 8),
            host_bytes(uint64_t{0x0102030405060708ull}));
  EXPECT_EQ(DecodeNative64(odd), 0x0102030405060708ull);
  // A negative s32 (a policy's home node -1) stored through its u32 bits.
  EncodeNative32(odd, static_cast<uint32_t>(int32_t{-1}));
  EXPECT_EQ(static_cast<int32_t>(DecodeNative32(odd)), -1);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  // x86-64, where khod runs: native is little-endian, the fixed coding's bytes.
  uint8_t le[8];
  EncodeFixed64(le, 0x0102030405060708ull);
  EncodeNative64(odd, 0x0102030405060708ull);
  EXPECT_EQ(std::memcmp(odd, le, 8), 0);
  EXPECT_EQ(odd[0], 0x08);
#endif
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
