// Whole-file reads (common/file_read.h, with khoctl's options) and writes
// for blobs (as root, through no other user's link). Writes go to a uniquely named
// temporary file beside the target, which is fsynced and renamed over it, so
// a failed write never leaves half a blob and never touches anything else.
#ifndef KHOD_KHOCTL_FILE_IO_H_
#define KHOD_KHOCTL_FILE_IO_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "common/file_read.h"
#include "common/status.h"

namespace khod {

// Larger than any blob: an FDT is at most 2 GiB (plus page padding), a proto
// frame 4 KiB of header plus protobuf's 2 GiB.
constexpr uint64_t kMaxBlobFileBytes = (2ull << 30) + (1ull << 20);

// How khoctl reads a file an operator named: an absent one is open's
// IoError ("open PATH: No such file or directory"), more than `max_bytes`
// (a huge file, /dev/zero) InvalidArgument, never Corruption: that code is
// left to `check_head` and the blob's own checks (LoadSnapshotFile adds the
// path to those only). A symlink is followed (khoctl runs with the
// operator's rights); a FIFO or device is refused.
FileReadOptions BlobFileRead(std::function<Status(std::string_view head)> check_head = nullptr,
                             uint64_t max_bytes = kMaxBlobFileBytes);

// Replaces the regular file `path` (following a symlink) atomically and
// durably. A blob holds PFNs, so a new file is created 0600 (less the umask)
// and a replaced one keeps its mode only as far as 0600 allows (0644 becomes
// 0600, 0400 stays); a regular file owned by another uid than khoctl's euid
// is refused (FailedPrecondition "PATH is a regular file owned by uid N, ...").
// A device or FIFO is written in place (nothing to replace), opened
// O_NONBLOCK: a FIFO no one reads is refused, never waited on, and a named
// FIFO owned by another user than root or the euid is refused naming its
// owner (its reader would get the blob); an anonymous pipe reached through
// /proc (/dev/stdout) is written. A socket, a directory or an empty path is
// refused.
// Run as root (euid 0), khoctl writes into paths other users may control
// (`synth -o /home/alice/out.fdt`): the path is walked by hand from "/" or
// the cwd (common/safe_file.h WalkPath), a symlink on the way or at its end
// followed only when root or khoctl's euid owns it, and another user's link
// is refused before anything is written: FailedPrecondition "PATH: LINK is a
// symbolic link owned by uid N: khoctl running as root writes through no
// link another user owns (it points at TARGET)". The file is then created,
// renamed and synced by name in the directory the walk ended in
// (ReplaceFileAt), so nothing renamed or linked along the path afterwards
// redirects it. A link in /proc to an open pipe or device (/dev/stdout's
// /proc/self/fd/1) is written through in place.
Status WriteWholeFile(const std::string& path, const std::string& data);

}  // namespace khod

#endif  // KHOD_KHOCTL_FILE_IO_H_
