#include "serializer/frame.h"

#include <cstring>

#include "common/coding.h"
#include "common/xxh3.h"

namespace khod {

void WriteFrameHeader(uint16_t major, uint16_t minor, std::string_view payload, uint8_t* h) {
  std::memcpy(h, kFrameMagic, 8);
  EncodeFixed16(h + 8, major);
  EncodeFixed16(h + 10, minor);
  EncodeFixed32(h + 12, kFrameHeaderSize);
  EncodeFixed64(h + 16, payload.size());
  EncodeFixed64(h + 24, Xxh3(payload.data(), payload.size()));
  EncodeFixed64(h + 32, Xxh3(h, 32));
}

void WriteFrame(uint16_t major, uint16_t minor, std::string_view payload, std::string* out) {
  out->resize(kFrameHeaderSize + payload.size());
  uint8_t* h = reinterpret_cast<uint8_t*>(&(*out)[0]);
  if (!payload.empty()) std::memcpy(h + kFrameHeaderSize, payload.data(), payload.size());
  WriteFrameHeader(major, minor, payload, h);
}

Result<FrameInfo> ReadFrame(std::string_view blob, uint16_t expected_major, bool payload_checksum) {
  const uint8_t* h = reinterpret_cast<const uint8_t*>(blob.data());
  if (blob.size() < 8 || std::memcmp(h, kFrameMagic, 8) != 0)
    return Status::Corruption("proto frame: bad magic (not a KHODSNAP file)");
  if (blob.size() < 16)
    return Status::Corruption("proto frame: truncated header (" + std::to_string(blob.size()) +
                              " bytes)");
  FrameInfo info;
  info.major = DecodeFixed16(h + 8);
  info.minor = DecodeFixed16(h + 10);
  // Major first: a future major may lay its header out differently, and the
  // right answer for it is "unsupported", not "corrupt".
  if (info.major != expected_major)
    return Status::Unsupported("proto frame: format major version " + std::to_string(info.major) +
                               ", this reader knows " + std::to_string(expected_major));
  const uint32_t header_size = DecodeFixed32(h + 12);
  if (header_size < kFrameHeaderSize || header_size > kFrameMaxHeaderSize || header_size % 8)
    return Status::Corruption("proto frame: bad header size " + std::to_string(header_size));
  if (blob.size() < header_size)
    return Status::Corruption("proto frame: truncated header (" + std::to_string(blob.size()) +
                              " of " + std::to_string(header_size) + " bytes)");
  if (Xxh3(h, header_size - 8) != DecodeFixed64(h + header_size - 8))
    return Status::Corruption("proto frame: header checksum mismatch");
  const uint64_t length = DecodeFixed64(h + 16);
  const uint64_t available = blob.size() - header_size;
  if (length > available)
    return Status::Corruption("proto frame: truncated payload (" + std::to_string(available) +
                              " of " + std::to_string(length) + " bytes)");
  if (length < available)
    return Status::Corruption("proto frame: " + std::to_string(available - length) +
                              " trailing bytes after the payload");
  info.payload = blob.substr(header_size, length);
  if (payload_checksum && Xxh3(info.payload.data(), info.payload.size()) != DecodeFixed64(h + 24))
    return Status::Corruption("proto frame: payload checksum mismatch");
  return info;
}

}  // namespace khod
