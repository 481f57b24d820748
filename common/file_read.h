// Reading a whole file, bounded: khod's state files and handover blobs,
// KHO's debugfs tree, khoctl's snapshot blobs, a VMM's declaration. Every
// read opens O_NONBLOCK and refuses anything but a regular file (a FIFO is an
// error at once, never a hang; /dev/zero is refused before a byte is read),
// does not follow a symlink unless the caller says the path is an
// operator's own, and reads no more than the header's declared size (plus
// kDeclaredSizeSlack) or max_bytes: a huge file is refused, never read until
// memory runs out.
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
#include "common/unique_fd.h"

namespace khod {

// No khod file is larger than a 2 GiB blob and its frame.
constexpr uint64_t kMaxKhodFileBytes = uint64_t{4} << 30;

// Bytes a head check sees before the rest is read (fewer when the file is shorter).
constexpr size_t kFileHeadBytes = 64;

// What a file may hold past the size its header declares (an FDT's page
// padding is less): more is refused before it is read.
constexpr uint64_t kDeclaredSizeSlack = 64 << 10;

struct FileReadOptions {
  uint64_t max_bytes = kMaxKhodFileBytes;
  // Absent file: NotFound "PATH: no such file"; otherwise IoError
  // "open PATH: No such file or directory".
  bool missing_is_not_found = true;
  // Past max_bytes: Corruption; otherwise InvalidArgument. Either says
  // "PATH: larger than N bytes, <too_large_why>". The same code answers a
  // file that is not a regular one ("PATH is a FIFO or pipe, not a regular
  // file"; common/file_type_name.h names the type) and a link not followed
  // ("PATH is a symbolic link, which khod does not follow").
  bool too_large_is_corruption = true;
  std::string too_large_why = "not a khod file";
  // Names the file in every message: "declaration file " -> "declaration file PATH ...".
  std::string label;
  // A path an operator named for a CLI running as that operator may be a
  // symlink (bazel runfiles are); khod's own files never are followed.
  bool follow_symlinks = false;
  // When set, sees the first kFileHeadBytes and may refuse early what
  // cannot be wanted (a blob's magic), before a huge file is read whole.
  std::function<Status(std::string_view head)> check_head;
  // When set, says from the first kFileHeadBytes how many bytes the whole
  // file declares (a record's or blob's header); a file longer than that plus
  // kDeclaredSizeSlack is refused (too large) before more than the head is read.
  std::function<Result<uint64_t>(std::string_view head)> size_from_head;
};

Result<std::string> ReadWholeFile(const std::string& path,
                                  const FileReadOptions& opts = FileReadOptions());

// The same read of `name` in the directory open as `dir_fd` (common/safe_file.h);
// `shown_path` names it in messages.
Result<std::string> ReadWholeFileAt(int dir_fd, const std::string& name,
                                    const std::string& shown_path, const FileReadOptions& opts);

// The same read of an fd already open (from offset 0; the caller keeps it).
Result<std::string> ReadWholeFd(int fd, const std::string& shown_path, const FileReadOptions& opts);

// ReadWholeFile's opening and checks alone, for a read of the caller's own (a
// text read line by line, never held whole): `path` open for reading as
// ReadWholeFile opens it, a regular file no larger than opts.max_bytes by its
// size, else the error ReadWholeFile gives. check_head and size_from_head are
// not used. The caller bounds its read by FileTooLarge's rule.
Result<UniqueFd> OpenFileToRead(const std::string& path, const FileReadOptions& opts);

// What ReadWholeFile answers for `path` once more than opts.max_bytes are read.
Status FileTooLarge(const std::string& path, const FileReadOptions& opts);

}  // namespace khod

#endif  // KHOD_COMMON_FILE_READ_H_
