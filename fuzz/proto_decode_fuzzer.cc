// libFuzzer target for DecodeProto. Each input is decoded twice: as given (the
// KHODSNAP frame checks), and with bytes 40.. re-framed under a correct v1.0
// header (length and checksums), so that mutations reach the protobuf payload
// and the varint table decoders. Accepted inputs go through the round-trip oracle.
#include <google/protobuf/stubs/logging.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "fuzz/round_trip_oracle.h"
#include "serializer/frame.h"
#include "serializer/serializer.h"

namespace {

void DecodeAndCheck(std::string_view blob) {
  khod::Snapshot snap;
  khod::Status st = khod::DecodeProto(blob, &snap);
  if (st.ok())
    khod::CheckRoundTrips(snap);
  else
    khod::CheckRefusal(st);
}

}  // namespace

// Protobuf logs every invalid UTF-8 string it parses; the fuzzer makes many.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  DecodeAndCheck(input);
  if (size >= khod::kFrameHeaderSize) {
    uint16_t major, minor;  // little-endian in the frame, as on x86
    std::memcpy(&major, data + 8, 2);
    std::memcpy(&minor, data + 10, 2);
    std::string reframed;
    khod::WriteFrame(major, minor, input.substr(khod::kFrameHeaderSize), &reframed);
    DecodeAndCheck(reframed);
  }
  return 0;
}
