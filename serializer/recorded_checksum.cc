#include "serializer/recorded_checksum.h"

#include <cinttypes>
#include <cstdio>
#include <string>
#include <utility>

#include "common/xxh3.h"

namespace khod {

RecordedChecksum::RecordedChecksum(std::string_view blob, std::optional<uint64_t> recorded,
                                   bool beside)
    : recorded_(recorded) {
  if (recorded_) hash_ = Xxh3Beside(blob, beside);
}

Status RecordedChecksum::Check(const char* form, Status decoded) {
  if (!recorded_) return decoded;
  const uint64_t got = hash_.get();
  if (got == *recorded_) return decoded;
  char values[96];
  std::snprintf(values, sizeof values, "XXH3 0x%016" PRIx64 ", recorded 0x%016" PRIx64, got,
                *recorded_);
  return Status::Corruption(std::string(form) +
                            ": the blob does not match the XXH3 recorded for it (" + values + ")");
}

}  // namespace khod
