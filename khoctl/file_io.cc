#include "khoctl/file_io.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <utility>

#include "common/atomic_file.h"
#include "common/safe_file.h"
#include "common/status_macros.h"
#include "common/unique_fd.h"

namespace khod {

namespace {

// A device or FIFO (-o /dev/null, -o /dev/stdout): renaming over it would
// replace the node, so the bytes go straight in.
// `flags` adds O_NOFOLLOW where the name must not be a link.
Status WriteInPlace(int at, const std::string& name, const std::string& path,
                    const std::string& data, int flags = 0) {
  UniqueFd f(::openat(at, name.c_str(), O_WRONLY | O_CLOEXEC | flags));
  if (!f.valid()) return Status::FromErrno("open " + path, errno);
  struct stat st;
  if (::fstat(f.get(), &st) != 0) return Status::FromErrno("stat " + path, errno);
  if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))
    return Status::FailedPrecondition(path + " changed while khoctl opened it");
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
    // A new file: the umask applies at open.
    return ReplaceFileAt(at, end.dir_path, end.name, data, 0666, false, path);
  }
  if (S_ISLNK(st.st_mode)) return WriteInPlace(at, end.name, path, data);  // IsProcLinkToANode
  if (S_ISDIR(st.st_mode)) return Status::InvalidArgument(path + " is a directory, not a file");
  if (!S_ISREG(st.st_mode)) return WriteInPlace(at, end.name, path, data, O_NOFOLLOW);
  return ReplaceFileAt(at, end.dir_path, end.name, data, st.st_mode & 07777, true, path);
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
  mode_t mode = 0666;  // a new file: the umask applies at open
  bool keep_mode = false;
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return Status::InvalidArgument(path + " is a directory, not a file");
    if (!S_ISREG(st.st_mode)) return WriteInPlace(AT_FDCWD, path, path, data);
    // Replace what a symlink points at, not the link.
    char real[PATH_MAX];
    if (::realpath(path.c_str(), real) == nullptr)
      return Status::FromErrno("resolve " + path, errno);
    target = real;
    mode = st.st_mode & 07777;
    keep_mode = true;
  }
  return ReplaceFileAtPath(target, data, mode, keep_mode, path);
}

}  // namespace khod
