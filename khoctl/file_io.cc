#include "khoctl/file_io.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <string>
#include <utility>

#include "common/atomic_file.h"
#include "common/file_type_name.h"
#include "common/safe_file.h"
#include "common/status_macros.h"
#include "common/unique_fd.h"

namespace khod {

namespace {

// What khoctl gives a file it creates, and the most it leaves on a file it
// replaces: a blob holds PFNs and folio flags, which the kernel shows only to
// CAP_SYS_ADMIN (docs/SECURITY.md), so no one but its owner may read it. A
// replaced file keeps a narrower mode of its own (0400), never a wider one.
constexpr mode_t kBlobFileMode = 0600;

// A regular file at the output path is replaced only when khoctl's euid owns
// it: another user's file there (planted at -o /tmp/x, or theirs by right)
// is theirs to remove, not khoctl's to overwrite.
Status CheckOwnFile(const struct stat& st, const std::string& path) {
  const uid_t euid = ::geteuid();
  if (st.st_uid == euid) return Status::Ok();
  return Status::FailedPrecondition(
      path + " is a regular file owned by uid " + std::to_string(st.st_uid) +
      ", not by khoctl's euid " + std::to_string(euid) + ": khoctl replaces no other user's file");
}

// An anonymous pipe (pipefs) has no name anyone could plant at a path: it is
// reached only through a /proc link to a process's open fd (/dev/stdout).
bool IsAnonymousPipe(int fd) {
  struct statfs fs;
  return ::fstatfs(fd, &fs) == 0 && fs.f_type == PIPEFS_MAGIC;
}

// A device, FIFO or pipe (-o /dev/null, -o /dev/stdout): renaming over it
// would replace the node, so the bytes go straight in. The open never waits
// (O_NONBLOCK): a FIFO no one reads is refused at once, never a hang; the
// writes then block as any pipe writer's do. A named FIFO must be root's or
// khoctl's euid's: anyone may mkfifo where they may write, and whoever reads
// theirs would get the blob; only root makes device nodes. A socket cannot be
// opened; a regular file or directory never comes here.
// `flags` adds O_NOFOLLOW where the name must not be a link.
Status WriteInPlace(int at, const std::string& name, const std::string& path,
                    const std::string& data, int flags = 0) {
  UniqueFd f(::openat(at, name.c_str(), O_WRONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | flags));
  struct stat st;
  if (!f.valid()) {
    const int err = errno;
    const int stat_flags = (flags & O_NOFOLLOW) != 0 ? AT_SYMLINK_NOFOLLOW : 0;
    if (err == ENXIO && ::fstatat(at, name.c_str(), &st, stat_flags) == 0) {
      if (S_ISFIFO(st.st_mode))
        return Status::FailedPrecondition(path + " is " + FileTypeName(st.st_mode) +
                                          " no one is reading: khoctl does not wait for a reader");
      if (S_ISSOCK(st.st_mode))
        return Status::InvalidArgument(path + " is " + FileTypeName(st.st_mode) +
                                       ", not a file khoctl can write");
    }
    return Status::FromErrno("open " + path, err);
  }
  if (::fstat(f.get(), &st) != 0) return Status::FromErrno("stat " + path, errno);
  if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))
    return Status::FailedPrecondition(path + " changed while khoctl opened it");
  if (S_ISFIFO(st.st_mode) && st.st_uid != 0 && st.st_uid != ::geteuid() &&
      !IsAnonymousPipe(f.get()))
    return Status::FailedPrecondition(path + " is " + FileTypeName(st.st_mode) + " owned by uid " +
                                      std::to_string(st.st_uid) +
                                      ": khoctl writes into no FIFO another user owns (whoever "
                                      "reads it would get the blob)");
  const int fl = ::fcntl(f.get(), F_GETFL);
  if (fl < 0 || ::fcntl(f.get(), F_SETFL, fl & ~O_NONBLOCK) != 0)
    return Status::FromErrno("fcntl " + path, errno);
  KHOD_RETURN_IF_ERROR(WriteAll(f.get(), data, path));
  // Released by hand: a failed close is a failed write here.
  if (::close(f.release()) != 0) return Status::FromErrno("close " + path, errno);
  return Status::Ok();
}

// A link in /proc to a pipe, socket or device: /proc/self/fd/1, where
// /dev/stdout leads. Its text ("pipe:[123]") is no path; the kernel resolves
// it to the open file itself, so it is opened through, never walked.
bool IsProcLinkToANode(int dir_fd, const std::string& name) {
  struct statfs fs;
  struct stat st;
  return ::fstatfs(dir_fd, &fs) == 0 && fs.f_type == PROC_SUPER_MAGIC &&
         ::fstatat(dir_fd, name.c_str(), &st, 0) == 0 && !S_ISREG(st.st_mode) &&
         !S_ISDIR(st.st_mode);
}

// Root's write: `path` walked by hand (common/safe_file.h WalkPath), through
// links root or khoctl's euid owns only, then written by name in the
// directory the walk ended in, so no other user's link or rename along the
// path redirects root's write to a file of theirs choosing.
Status WriteAsRoot(const std::string& path, const std::string& data) {
  PathWalkRules rules;
  rules.last_is_name = true;
  rules.refuse_link = [](const std::string& named, uid_t owner, const std::string& target) {
    return Status::FailedPrecondition(named + " is a symbolic link owned by uid " +
                                      std::to_string(owner) +
                                      ": khoctl running as root writes through no link another "
                                      "user owns (it points at " +
                                      target + ")");
  };
  rules.end_on_link = IsProcLinkToANode;
  Result<PathWalkEnd> walked = WalkPath(path, rules);
  if (!walked.ok()) return walked.status().WithContext(path);
  const PathWalkEnd& end = *walked;
  const int at = end.dir.get();
  struct stat st;
  if (::fstatat(at, end.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno != ENOENT) return Status::FromErrno("stat " + path, errno);
    // A new file: the umask may narrow it further.
    return ReplaceFileAt(at, end.dir_path, end.name, data, kBlobFileMode, false, path);
  }
  if (S_ISLNK(st.st_mode)) return WriteInPlace(at, end.name, path, data);  // IsProcLinkToANode
  if (S_ISDIR(st.st_mode)) return Status::InvalidArgument(path + " is a directory, not a file");
  if (!S_ISREG(st.st_mode)) return WriteInPlace(at, end.name, path, data, O_NOFOLLOW);
  KHOD_RETURN_IF_ERROR(CheckOwnFile(st, path));
  return ReplaceFileAt(at, end.dir_path, end.name, data, st.st_mode & kBlobFileMode, true, path);
}

}  // namespace

FileReadOptions BlobFileRead(std::function<Status(std::string_view head)> check_head,
                             uint64_t max_bytes) {
  FileReadOptions o;
  o.max_bytes = max_bytes;
  o.missing_is_not_found = false;
  o.too_large_is_corruption = false;
  o.too_large_why = "more than any snapshot blob holds";
  o.follow_symlinks = true;  // the operator's own path, read with the operator's rights
  o.check_head = std::move(check_head);
  return o;
}

Status WriteWholeFile(const std::string& path, const std::string& data) {
  if (path.empty()) return Status::InvalidArgument("output path is empty");
  if (::geteuid() == 0) return WriteAsRoot(path, data);
  // The operator's own rights: their links are theirs to follow.
  std::string target = path;
  mode_t mode = kBlobFileMode;  // a new file: the umask may narrow it further
  bool keep_mode = false;
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return Status::InvalidArgument(path + " is a directory, not a file");
    if (!S_ISREG(st.st_mode)) return WriteInPlace(AT_FDCWD, path, path, data);
    KHOD_RETURN_IF_ERROR(CheckOwnFile(st, path));
    // Replace what a symlink points at, not the link.
    char real[PATH_MAX];
    if (::realpath(path.c_str(), real) == nullptr)
      return Status::FromErrno("resolve " + path, errno);
    target = real;
    mode = st.st_mode & kBlobFileMode;
    keep_mode = true;
  }
  return ReplaceFileAtPath(target, data, mode, keep_mode, path);
}

}  // namespace khod
