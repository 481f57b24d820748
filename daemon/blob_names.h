// The names of the session's blobs in the state directory: KIND-G.blob, KIND
// "prepared" or "frozen", G the decimal generation of the record that names
// it (docs/FORMAT.md "State directory layout"). A record names no other file:
// recovery and Cancel delete the blobs a record names.
#ifndef KHOD_DAEMON_BLOB_NAMES_H_
#define KHOD_DAEMON_BLOB_NAMES_H_

#include <cstdint>
#include <string>

namespace khod {

// "prepared-12.blob" for ("prepared", 12).
std::string BlobName(const std::string& kind, uint64_t generation);

// Whether `name` is one BlobName gives for `kind`, or "" (the record names none).
bool IsBlobNameOrNone(const std::string& name, const std::string& kind);

// Prepare's draft of Freeze's blob, in the state dir: named by no record.
constexpr char kFrozenDraftBlob[] = "frozen-draft.blob";

// Whether `name` is a blob file khod writes in the state dir: a BlobName of
// "prepared" or "frozen", or kFrozenDraftBlob (the start-up sweep removes
// no other name).
bool IsSessionBlobName(const std::string& name);

}  // namespace khod

#endif  // KHOD_DAEMON_BLOB_NAMES_H_
