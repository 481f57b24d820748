// Crash-safe files for khod's state directory. A file is replaced atomically
// (write a temporary, fsync it, rename over the old one, fsync the directory),
// so after a crash at any instant a reader finds either the old contents or
// the new, never a mix. Each file is framed with a magic, a length and an
// XXH3-64 of the payload, so a torn or bit-flipped file is refused as
// Corruption rather than trusted. Files are opened as common/safe_file.h
// says: in a checked directory, never through a link, read no further than
// the frame's length.
#ifndef KHOD_DAEMON_RECORD_FILE_H_
#define KHOD_DAEMON_RECORD_FILE_H_

#include <string>
#include <string_view>

#include "common/safe_file.h"
#include "common/status.h"

namespace khod {

// Writes `payload` framed and checksummed to `name` in `dir`, atomically.
Status WriteRecordFile(const SafeDir& dir, std::string_view name, std::string_view payload);

// Reads a file written by WriteRecordFile. NotFound when absent, Corruption
// when the frame or the checksum is wrong, when it is a symlink or not a
// regular file, or when it is longer than its frame says.
Result<std::string> ReadRecordFile(const SafeDir& dir, std::string_view name);

// The same by path: the file's directory is opened (and checked) as SafeDir.
Status WriteRecordFile(const std::string& path, std::string_view payload);
Result<std::string> ReadRecordFile(const std::string& path);

// Atomic replace without a frame (for blobs whose format is self-checking):
// SafeDir::Replace in the path's directory, the file `mode` before its rename.
Status WriteFileAtomically(const std::string& path, std::string_view data, mode_t mode = 0600);

// Writes `data` to a file named afresh (SafeDir::WriteNew: created, a
// leftover of a crash removed first), fsyncs it, and neither renames nor
// syncs its directory: for a blob that only a record written after it
// names. That record's directory fsync makes the blob's entry durable too
// (same directory); until then a crash leaves a file no record names. One
// rename and one fsync fewer than WriteFileAtomically (~1 ms inside Freeze).
Status WriteFileBeforeItsRecord(const std::string& path, std::string_view data);
// Reading a whole file: common/file_read.h (its defaults are khod's files').
// mkdir -p: common/safe_file.h.

}  // namespace khod

#endif  // KHOD_DAEMON_RECORD_FILE_H_
