// The KHODSNAP frame around the protobuf payload (docs/FORMAT.md "Frame"):
// a 40-byte little-endian header that makes files identify themselves and
// catches truncation and bit flips before protobuf parsing starts.
//
//   0      8      10     12          16               24              32            40
//   +------+------+------+-----------+----------------+---------------+-------------+---------
//   |magic |major |minor |header_size|payload_length  |payload_xxh3   |header_xxh3  | payload
//   +------+------+------+-----------+----------------+---------------+-------------+---------
#ifndef KHOD_SERIALIZER_FRAME_H_
#define KHOD_SERIALIZER_FRAME_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace khod {

constexpr char kFrameMagic[8] = {'K', 'H', 'O', 'D', 'S', 'N', 'A', 'P'};
constexpr uint32_t kFrameHeaderSize = 40;       // v1.0 header
constexpr uint32_t kFrameMaxHeaderSize = 4096;  // newer minors may grow it up to this

struct FrameInfo {
  uint16_t major = 0;
  uint16_t minor = 0;
  std::string_view payload;
};

// Fills the kFrameHeaderSize bytes at `header` for `payload` (which may
// already sit right after it, so encoders serialize in place, without a copy).
void WriteFrameHeader(uint16_t major, uint16_t minor, std::string_view payload, uint8_t* header);

// Writes the v1.0 header for `payload` followed by the payload into *out.
void WriteFrame(uint16_t major, uint16_t minor, std::string_view payload, std::string* out);

// Checks magic, major version (== expected_major, else Unsupported), header
// size, header checksum, length and (`payload_checksum`; the caller checks
// the bytes against a record of them otherwise) payload checksum.
Result<FrameInfo> ReadFrame(std::string_view blob, uint16_t expected_major,
                            bool payload_checksum = true);

}  // namespace khod

#endif  // KHOD_SERIALIZER_FRAME_H_
