// The fuzzers' oracle beyond "no crash": whatever a decoder accepts must be a
// snapshot the encoders accept, and both formats must give it back unchanged.
// A violation aborts (libFuzzer then saves the input as a crash).
#ifndef KHOD_FUZZ_ROUND_TRIP_ORACLE_H_
#define KHOD_FUZZ_ROUND_TRIP_ORACLE_H_

#include <cstdio>
#include <cstdlib>
#include <string>

#include "fuzz/oracle.h"
#include "serializer/serializer.h"

namespace khod {

[[noreturn]] inline void RoundTripFail(const char* what, const Status& st) {
  OracleFail("round-trip", what, st.ToString());
}

// `decoded` came out of a successful decode.
inline void CheckRoundTrips(const Snapshot& decoded) {
  for (BlobFormat format : {BlobFormat::kFdt, BlobFormat::kProto}) {
    std::string blob;
    Status st = Encode(decoded, format, &blob);
    if (!st.ok()) RoundTripFail("a decoded snapshot does not re-encode", st);
    Snapshot again;
    st = format == BlobFormat::kFdt ? DecodeFdt(blob, &again) : DecodeProto(blob, &again);
    if (!st.ok()) RoundTripFail("a re-encoded snapshot does not decode", st);
    // Encoders write their own format version (a blob of a newer minor is
    // re-encoded as this one), so only the version may differ.
    again.header.format_major = decoded.header.format_major;
    again.header.format_minor = decoded.header.format_minor;
    if (again != decoded)
      RoundTripFail(format == BlobFormat::kFdt ? "fdt round trip changed the snapshot"
                                               : "proto round trip changed the snapshot",
                    Status::Internal("snapshots differ"));
  }
}

// A refusal must say why.
inline void CheckRefusal(const Status& st) {
  if (st.message().empty()) RoundTripFail("decoder refused a blob without a message", st);
}

}  // namespace khod

#endif  // KHOD_FUZZ_ROUND_TRIP_ORACLE_H_
