// The "fdt" | "proto" value of --to / --format flags.
#ifndef KHOD_KHOCTL_BLOB_FORMAT_FLAG_H_
#define KHOD_KHOCTL_BLOB_FORMAT_FLAG_H_

#include <string_view>

#include "common/status.h"
#include "serializer/serializer.h"

namespace khod {

inline Result<BlobFormat> ParseBlobFormat(std::string_view text) {
  if (text == "fdt") return BlobFormat::kFdt;
  if (text == "proto") return BlobFormat::kProto;
  return Status::InvalidArgument("format '" + std::string(text) + "' is not fdt or proto");
}

}  // namespace khod

#endif  // KHOD_KHOCTL_BLOB_FORMAT_FLAG_H_
