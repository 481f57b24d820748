// Byte coding of khod's own formats, in the manner of LevelDB's util/coding.h:
// fixed-width little-endian integers (frame and record headers, the LUO
// manifest, content hashes) and LEB128 varints with zigzag (the protobuf
// payload's tables, docs/FORMAT.md "Protobuf form", "Payload"). khod's own
// integers are little-endian whatever the host; the FDT form's are not
// (big-endian header and structure, per the FDT spec; native-endian properties,
// per KHO's ABI). Nothing here depends on alignment.
//
// Decoding is bounded: GetVarint64 never reads at or past `end` and refuses a
// varint longer than kMaxVarint64Bytes or one whose 10th byte has bits beyond
// 64. Callers check lengths before DecodeFixed*.
#ifndef KHOD_COMMON_CODING_H_
#define KHOD_COMMON_CODING_H_

#include <cstdint>
#include <cstring>
#include <string>

namespace khod {

constexpr int kMaxVarint64Bytes = 10;

// Fixed-width little-endian at `dst` / from `p`.
inline void EncodeFixed16(uint8_t* dst, uint16_t v) {
  dst[0] = static_cast<uint8_t>(v);
  dst[1] = static_cast<uint8_t>(v >> 8);
}
inline void EncodeFixed32(uint8_t* dst, uint32_t v) {
  for (int i = 0; i < 4; ++i) dst[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline void EncodeFixed64(uint8_t* dst, uint64_t v) {
  for (int i = 0; i < 8; ++i) dst[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline uint16_t DecodeFixed16(const uint8_t* p) {
  return static_cast<uint16_t>(uint16_t{p[0]} | (uint16_t{p[1]} << 8));
}
inline uint32_t DecodeFixed32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t{p[i]} << (8 * i);
  return v;
}
inline uint64_t DecodeFixed64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t{p[i]} << (8 * i);
  return v;
}
// The same for bytes held in a std::string or std::string_view.
inline uint64_t DecodeFixed64(const char* p) {
  return DecodeFixed64(reinterpret_cast<const uint8_t*>(p));
}

// Appends v as 8 little-endian bytes.
void PutFixed64(std::string* dst, uint64_t v);

// Big-endian at `dst` / from `p`, whatever the host: the flattened device
// tree's own integers (header fields, structure tokens, property lengths and
// name offsets), as the devicetree specification stores them.
inline void EncodeBigEndian32(uint8_t* dst, uint32_t v) {
  for (int i = 0; i < 4; ++i) dst[i] = static_cast<uint8_t>(v >> (8 * (3 - i)));
}
inline uint32_t DecodeBigEndian32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | uint32_t{p[3]};
}

// The host's byte order at `dst` / from `p`, at any alignment: the integers
// of khod's FDT properties and table records, native-endian as KHO's ABI
// stores them (docs/FORMAT.md "FDT form"; little-endian on x86-64).
inline void EncodeNative16(uint8_t* dst, uint16_t v) { std::memcpy(dst, &v, sizeof v); }
inline void EncodeNative32(uint8_t* dst, uint32_t v) { std::memcpy(dst, &v, sizeof v); }
inline void EncodeNative64(uint8_t* dst, uint64_t v) { std::memcpy(dst, &v, sizeof v); }
inline uint16_t DecodeNative16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline uint32_t DecodeNative32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline uint64_t DecodeNative64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Writes v as an unsigned LEB128 varint at dst, which must have
// kMaxVarint64Bytes of room; returns one past the last byte written.
inline uint8_t* EncodeVarint64(uint8_t* dst, uint64_t v) {
  while (v >= 0x80) {
    *dst++ = static_cast<uint8_t>(v | 0x80);
    v >>= 7;
  }
  *dst++ = static_cast<uint8_t>(v);
  return dst;
}

// How many bytes EncodeVarint64 writes for v (1 to 10).
inline int VarintLength(uint64_t v) { return (64 - __builtin_clzll(v | 1) + 6) / 7; }

// Reads a varint from [*p, end) into *v and advances *p past it. False, with
// *p unchanged, when it is truncated or overlong. Inline whole: the table
// decoders call it per field.
inline bool GetVarint64(const uint8_t** p, const uint8_t* end, uint64_t* v) {
  const uint8_t* q = *p;
  if (q < end && *q < 0x80) {  // one byte: most gaps and counts
    *v = *q;
    *p = q + 1;
    return true;
  }
  uint64_t result = 0;
  for (int shift = 0; shift < 64 && q < end; shift += 7) {
    const uint8_t b = *q++;
    if (shift == 63 && b > 1) return false;
    result |= uint64_t{b & 0x7fu} << shift;
    if (b < 0x80) {
      *v = result;
      *p = q;
      return true;
    }
  }
  return false;
}

// Zigzag maps signed deltas to unsigned so that small magnitudes stay short:
// 0, -1, 1, -2, ... become 0, 1, 2, 3, ...
inline uint64_t ZigZagEncode64(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
inline int64_t ZigZagDecode64(uint64_t v) {
  return static_cast<int64_t>((v >> 1) ^ (~(v & 1) + 1));
}

}  // namespace khod

#endif  // KHOD_COMMON_CODING_H_
