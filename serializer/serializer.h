// The two blob formats of a Snapshot, one content (docs/FORMAT.md):
//   FDT   - libfdt flattened device tree following KHO's conventions, laid
//           out to be a KHO subtree; no code hands it to KHO (luo carries it
//           in the LUO blob memfd, as any blob).
//   proto - proto/snapshot.proto in a small self-identifying frame; what is
//           stored on disk and sent over gRPC.
// Decoders never trust input: every malformed blob yields a Status naming the
// problem (Corruption / Unsupported), and the decoded Snapshot passes
// CheckInvariants (state/invariants.h) or is refused.
#ifndef KHOD_SERIALIZER_SERIALIZER_H_
#define KHOD_SERIALIZER_SERIALIZER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/page_runs.h"
#include "common/status.h"
#include "state/snapshot.h"

namespace khod {

enum class BlobFormat { kFdt, kProto };
const char* BlobFormatName(BlobFormat f);

// What a codec may use. `threads`: how many threads the FDT form may share a
// folio table between, a run of chunks to each (its chunks are independent,
// docs/FORMAT.md "Tables"); a blob is byte for byte, and a decoded snapshot
// field for field, what one thread makes. The proto form's varints are read
// and written in order on one thread whatever it says. 0 or less: the CPUs
// of this process's affinity mask.
//
// `recorded_xxh3` (decoders): the XXH3-64 of the whole blob as given, as a
// record of it holds (the state dir's record of a frozen blob). Given, the
// decoder hashes the blob on a thread of its own beside the decode (on the
// caller's thread when `threads` is 1) and compares that value instead of
// computing the blob's own checksum (the FDT's, the frame's payload
// checksum): every byte is still checked, once instead of twice. Bytes
// that do not match the record are `Corruption` "... does not match the
// XXH3 recorded for it", whatever else the decode found; `*out` is written
// only when both agree. Not given: the blob's own checksums, as always.
struct CodecOptions {
  CodecOptions() = default;
  explicit CodecOptions(int threads_) : threads(threads_) {}
  int threads = 1;
  std::optional<uint64_t> recorded_xxh3;
};

Status EncodeFdt(const Snapshot& snap, std::string* out, const CodecOptions& opts = {});
Status DecodeFdt(std::string_view blob, Snapshot* out, const CodecOptions& opts = {});
// An FDT blob made the blob of the same snapshot captured at
// `capture_time_ns`: the root's capture time written in place and the blob
// resealed (its checksum), byte for byte what EncodeFdt makes of that
// snapshot, in O(bytes) for the checksum instead of O(records). Returns the
// byte ranges it changed (the time's value and the checksum's).
// InvalidArgument for a blob that is not a whole khod FDT.
Result<std::vector<ByteRange>> SetFdtCaptureTime(std::string* blob, uint64_t capture_time_ns);

Status EncodeProto(const Snapshot& snap, std::string* out);
Status DecodeProto(std::string_view blob, Snapshot* out, const CodecOptions& opts = {});

Status Encode(const Snapshot& snap, BlobFormat format, std::string* out,
              const CodecOptions& opts = {});
// Recognises the format by its magic (FDT 0xd00dfeed, proto frame "KHODSNAP").
Result<BlobFormat> DetectFormat(std::string_view blob);
// The whole blob's size its first bytes declare (FDT totalsize, or the proto
// frame's header_size + payload_length), so a reader can refuse a longer
// file before reading it; the head's own size when it is too short to say.
// Corruption when neither magic is there. Declared, not checked: the
// decoder checks the rest.
Result<uint64_t> DeclaredBlobBytes(std::string_view head);
Status DecodeAny(std::string_view blob, Snapshot* out, BlobFormat* format = nullptr,
                 const CodecOptions& opts = {});

}  // namespace khod

#endif  // KHOD_SERIALIZER_SERIALIZER_H_
