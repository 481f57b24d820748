// A decode checked against a recorded whole-blob XXH3 instead of the blob's
// own checksum (serializer.h CodecOptions::recorded_xxh3): one home for the
// rule both decoders follow.
#ifndef KHOD_SERIALIZER_RECORDED_CHECKSUM_H_
#define KHOD_SERIALIZER_RECORDED_CHECKSUM_H_

#include <cstdint>
#include <future>
#include <optional>
#include <string_view>

#include "common/status.h"

namespace khod {

class RecordedChecksum {
 public:
  // Starts hashing `blob` when `recorded` is given: on a thread of its own
  // when `beside`. `blob` must outlive this object.
  RecordedChecksum(std::string_view blob, std::optional<uint64_t> recorded, bool beside);

  // Whether the record vouches for the bytes, so that the blob's own
  // checksum is not computed.
  bool given() const { return recorded_.has_value(); }

  // `decoded` when the bytes are the recorded ones (or nothing was
  // recorded), else the mismatch, named for `form` ("fdt", "proto frame"):
  // bytes that are not the recorded ones are refused as such whatever the
  // decode made of them.
  Status Check(const char* form, Status decoded);

 private:
  std::optional<uint64_t> recorded_;
  std::future<uint64_t> hash_;
};

}  // namespace khod

#endif  // KHOD_SERIALIZER_RECORDED_CHECKSUM_H_
