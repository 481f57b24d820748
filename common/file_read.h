// Reading a whole file, bounded: khod's state files and handover blobs,
// KHO's debugfs tree, khoctl's snapshot blobs, a VMM's declaration. A huge
// file or an endless device (/dev/zero) is refused past the bound, never read
// until memory runs out; a directory is refused naming it.
//
// The error codes are part of each caller's contract, so they are options:
// khod's own files answer NotFound when absent (no record, no blob: an
// answer, not a failure) and Corruption when too large (such a file is not
// one of khod's); a path an operator named answers InvalidArgument when too
// large, and khoctl's blob reads keep open's IoError for an absent file.
#ifndef KHOD_COMMON_FILE_READ_H_
#define KHOD_COMMON_FILE_READ_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace khod {

// No khod file is larger than a 2 GiB blob and its frame.
constexpr uint64_t kMaxKhodFileBytes = uint64_t{4} << 30;

// Bytes a head check sees before the rest is read (fewer when the file is shorter).
constexpr size_t kFileHeadBytes = 64;

struct FileReadOptions {
  uint64_t max_bytes = kMaxKhodFileBytes;
  // Absent file: NotFound "PATH: no such file"; otherwise IoError
  // "open PATH: No such file or directory".
  bool missing_is_not_found = true;
  // Past max_bytes: Corruption; otherwise InvalidArgument. Either says
  // "PATH: larger than N bytes, <too_large_why>".
  bool too_large_is_corruption = true;
  std::string too_large_why = "not a khod file";
  // Names the file in every message: "declaration file " -> "declaration file PATH ...".
  std::string label;
  // When set, sees the first kFileHeadBytes and may refuse early what
  // cannot be wanted (a blob's magic), before a huge file is read whole.
  std::function<Status(std::string_view head)> check_head;
};

Result<std::string> ReadWholeFile(const std::string& path, const FileReadOptions& opts = FileReadOptions());

}  // namespace khod

#endif  // KHOD_COMMON_FILE_READ_H_
