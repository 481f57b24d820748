// Format-independent entry points: detection by magic and dispatch.
#include "serializer/serializer.h"

#include <cstring>

#include "serializer/frame.h"

namespace khod {

const char* BlobFormatName(BlobFormat f) {
  switch (f) {
    case BlobFormat::kFdt: return "fdt";
    case BlobFormat::kProto: return "proto";
  }
  return "?";
}

Status Encode(const Snapshot& snap, BlobFormat format, std::string* out) {
  return format == BlobFormat::kFdt ? EncodeFdt(snap, out) : EncodeProto(snap, out);
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

Status DecodeAny(std::string_view blob, Snapshot* out, BlobFormat* format) {
  Result<BlobFormat> f = DetectFormat(blob);
  if (!f.ok()) return f.status();
  if (format != nullptr) *format = *f;
  return *f == BlobFormat::kFdt ? DecodeFdt(blob, out) : DecodeProto(blob, out);
}

}  // namespace khod
