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

}  // namespace khod

#endif  // KHOD_DAEMON_BLOB_NAMES_H_
