// Format-independent entry points: detection by magic and dispatch.
#include "serializer/serializer.h"

#include <cstring>

#include "common/coding.h"
#include "common/status_macros.h"
#include "serializer/frame.h"

namespace khod {

const char* BlobFormatName(BlobFormat f) {
  switch (f) {
    case BlobFormat::kFdt:
      return "fdt";
    case BlobFormat::kProto:
      return "proto";
  }
  return "?";
}

Status Encode(const Snapshot& snap, BlobFormat format, std::string* out, const CodecOptions& opts) {
  return format == BlobFormat::kFdt ? EncodeFdt(snap, out, opts) : EncodeProto(snap, out);
}

Result<BlobFormat> DetectFormat(std::string_view blob) {
  if (blob.size() >= sizeof kFrameMagic &&
      std::memcmp(blob.data(), kFrameMagic, sizeof kFrameMagic) == 0)
    return BlobFormat::kProto;
  // FDT magic 0xd00dfeed is stored big-endian whatever the property endianness.
  static const uint8_t kFdtMagic[4] = {0xd0, 0x0d, 0xfe, 0xed};
  if (blob.size() >= 4 && std::memcmp(blob.data(), kFdtMagic, 4) == 0) return BlobFormat::kFdt;
  return Status::Corruption("unrecognised blob: neither FDT magic 0xd00dfeed nor \"KHODSNAP\"");
}

Result<uint64_t> DeclaredBlobBytes(std::string_view head) {
  KHOD_ASSIGN_OR_RETURN(BlobFormat f, DetectFormat(head));
  const uint8_t* h = reinterpret_cast<const uint8_t*>(head.data());
  if (f == BlobFormat::kFdt) {
    // totalsize: big-endian u32 at byte 4. A shorter head is the decoder's to name.
    if (head.size() < 8) return uint64_t{head.size()};
    return uint64_t{DecodeBigEndian32(h + 4)};
  }
  if (head.size() < 24) return uint64_t{head.size()};
  const uint64_t header_size = DecodeFixed32(h + 12);
  const uint64_t length = DecodeFixed64(h + 16);
  // A length near 2^64 is no blob's: the sum saturates and the read is refused.
  return length > UINT64_MAX - header_size ? UINT64_MAX : header_size + length;
}

Status DecodeAny(std::string_view blob, Snapshot* out, BlobFormat* format,
                 const CodecOptions& opts) {
  KHOD_ASSIGN_OR_RETURN(BlobFormat f, DetectFormat(blob));
  if (format != nullptr) *format = f;
  return f == BlobFormat::kFdt ? DecodeFdt(blob, out, opts) : DecodeProto(blob, out, opts);
}

}  // namespace khod
