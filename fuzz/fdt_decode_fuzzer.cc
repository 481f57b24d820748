// libFuzzer target for DecodeFdt. Each input is decoded three times: as given
// (the checksum and header paths), re-sealed with a correct whole-blob
// checksum, so that mutations reach the structure and table parsers instead
// of stopping at the checksum, and as given against a record of its bytes
// (CodecOptions::recorded_xxh3, the new khod's read of a handover: its own
// checksum not computed). Accepted inputs go through the round-trip oracle.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/xxh3.h"
#include "fuzz/round_trip_oracle.h"
#include "serializer/fdt_checksum.h"
#include "serializer/serializer.h"

namespace {

void DecodeAndCheck(std::string_view blob, const khod::CodecOptions& opts = {}) {
  khod::Snapshot snap;
  khod::Status st = khod::DecodeFdt(blob, &snap, opts);
  if (st.ok())
    khod::CheckRoundTrips(snap);
  else
    khod::CheckRefusal(st);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  DecodeAndCheck(input);
  std::string sealed = input;
  if (khod::SealFdt(&sealed).ok()) DecodeAndCheck(sealed);
  khod::CodecOptions recorded;
  recorded.recorded_xxh3 = khod::Xxh3(data, size);
  DecodeAndCheck(input, recorded);
  return 0;
}
