// LEB128 varints and zigzag, the building blocks of the protobuf payload's
// delta-encoded tables (docs/FORMAT.md "Varint tables"). Decoding is bounded:
// a reader never runs past `end` and rejects varints longer than 10 bytes.
#ifndef KHOD_SERIALIZER_VARINT_H_
#define KHOD_SERIALIZER_VARINT_H_

#include <cstdint>
#include <string>

namespace khod {

constexpr int kMaxVarintBytes = 10;

// Appends v as an unsigned LEB128 varint at p; returns one past the last byte.
// p must have kMaxVarintBytes of room.
inline uint8_t* PutVarint(uint8_t* p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<uint8_t>(v | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<uint8_t>(v);
  return p;
}

// Reads a varint from [*p, end); advances *p. False when truncated or overlong
// (more than 10 bytes, or a 10th byte with bits beyond 64).
inline bool GetVarint(const uint8_t** p, const uint8_t* end, uint64_t* v) {
  const uint8_t* q = *p;
  if (q < end && *q < 0x80) {  // fast path: one byte
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

inline uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
inline int64_t UnZigZag(uint64_t v) {
  return static_cast<int64_t>((v >> 1) ^ (~(v & 1) + 1));
}

inline void PutFixed64Le(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline uint64_t GetFixed64Le(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t{p[i]} << (8 * i);
  return v;
}

}  // namespace khod

#endif  // KHOD_SERIALIZER_VARINT_H_
