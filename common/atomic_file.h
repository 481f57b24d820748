// Writing a whole file so that a crash leaves the old bytes or the new, never
// half of them: the one home of khod's write loop, file fsync, rename and
// directory fsync. common/safe_file.h builds its directory-relative writes
// (root's state dir) on these; khoctl replaces an operator's output path with
// ReplaceFileAtPath, or as root with ReplaceFileAt in the directory it
// walked to by hand (khoctl/file_io.h).
//
// The durable order is: write all, fsync the file, close, rename over the
// target, fsync the directory. A failure before the rename removes the
// temporary file and leaves the target as it was.
#ifndef KHOD_COMMON_ATOMIC_FILE_H_
#define KHOD_COMMON_ATOMIC_FILE_H_

#include <sys/types.h>

#include <string>
#include <string_view>

#include "common/status.h"

namespace khod {

// Writes all of `data` to `fd`, retrying short writes and EINTR. IoError
// "write WHAT: <errno text>" (a write that makes no progress is EIO).
Status WriteAll(int fd, std::string_view data, const std::string& what);

// Writes `data` to the open file `fd`, fsyncs and closes it (closed in any
// case); IoError naming `what` for the step that failed, a failed close
// included.
Status WriteSyncClose(int fd, std::string_view data, const std::string& what);

// renameat `from` to `to`, both in the directory `dir_fd`, then fsync of that
// directory so the new entry survives a crash. On a failed rename `from` is
// unlinked. `dir_path` names the directory in messages.
Status RenameDurably(int dir_fd, const std::string& dir_path, const std::string& from,
                     const std::string& to);

// Replaces the file `target` (a resolved path, not a symlink) through a
// uniquely named temporary beside it, created with `mode` less the umask, or
// given exactly `mode` with keep_mode. `requested` is the path the caller
// was given, for messages. The directory fsync after the rename is best
// effort: the file is whole either way.
Status ReplaceFileAtPath(const std::string& target, std::string_view data, mode_t mode,
                         bool keep_mode, const std::string& requested);

// ReplaceFileAtPath by name: replaces `name` (one component) in the open
// directory `dir_fd` through a uniquely named temporary beside it, created
// O_CREAT|O_EXCL|O_NOFOLLOW in `dir_fd`, written and fsynced, renamed over
// `name` and the directory fsynced (RenameDurably: a failed directory fsync
// is an error here). Nothing renamed or linked along the directory's path
// redirects it. `dir_path` names the directory in messages.
Status ReplaceFileAt(int dir_fd, const std::string& dir_path, const std::string& name,
                     std::string_view data, mode_t mode, bool keep_mode,
                     const std::string& requested);

}  // namespace khod

#endif  // KHOD_COMMON_ATOMIC_FILE_H_
