#include "common/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <random>

#include "common/status_macros.h"
#include "common/unique_fd.h"

namespace khod {
namespace {

std::string DirName(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

Status WriteAll(int fd, std::string_view data, const std::string& what) {
  while (!data.empty()) {
    const ssize_t w = ::write(fd, data.data(), data.size());
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return Status::FromErrno("write " + what, w < 0 ? errno : EIO);
    data.remove_prefix(static_cast<size_t>(w));
  }
  return Status::Ok();
}

Status WriteSyncClose(int fd, std::string_view data, const std::string& what) {
  Status s = WriteAll(fd, data, what);
  if (s.ok() && ::fsync(fd) != 0) s = Status::FromErrno("fsync " + what, errno);
  if (::close(fd) != 0 && s.ok()) s = Status::FromErrno("close " + what, errno);
  return s;
}

Status RenameDurably(int dir_fd, const std::string& dir_path, const std::string& from,
                     const std::string& to) {
  if (::renameat(dir_fd, from.c_str(), dir_fd, to.c_str()) != 0) {
    const int err = errno;
    ::unlinkat(dir_fd, from.c_str(), 0);
    return Status::FromErrno("rename " + dir_path + "/" + from + " -> " + dir_path + "/" + to, err);
  }
  // The rename is durable only once the directory entry is.
  if (::fsync(dir_fd) != 0) return Status::FromErrno("fsync dir " + dir_path, errno);
  return Status::Ok();
}

namespace {

// Writes `data` to a new file BASE.tmp-PID-RAND beside `base` in `at`
// (AT_FDCWD: `base` is a path), created O_CREAT|O_EXCL|O_NOFOLLOW with
// `mode` less the umask, or exactly `mode` with keep_mode, fsynced and
// closed; gives its name. A unique name: BASE.tmp may be someone's file, and
// two writers must not collide. On failure nothing of it is left.
Result<std::string> WriteUniqueTemp(int at, const std::string& base, const std::string& shown_dir,
                                    std::string_view data, mode_t mode, bool keep_mode,
                                    const std::string& requested) {
  std::random_device rd;
  std::string tmp;
  UniqueFd f;
  for (int attempt = 0; !f.valid(); ++attempt) {
    char suffix[32];
    std::snprintf(suffix, sizeof suffix, ".tmp-%d-%08x", static_cast<int>(::getpid()), rd());
    tmp = base + suffix;
    f.reset(::openat(at, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
    if (!f.valid() && (errno != EEXIST || attempt >= 100))
      return Status::FromErrno("create " + shown_dir + tmp + " (for " + requested + ")", errno);
  }
  Status s = keep_mode && ::fchmod(f.get(), mode) != 0
                 ? Status::FromErrno("chmod " + shown_dir + tmp, errno)
                 : Status::Ok();
  if (s.ok()) {
    s = WriteSyncClose(f.release(), data, shown_dir + tmp);
  } else {
    f.reset();
  }
  if (!s.ok()) {
    ::unlinkat(at, tmp.c_str(), 0);
    return s;
  }
  return tmp;
}

}  // namespace

Status ReplaceFileAtPath(const std::string& target, std::string_view data, mode_t mode,
                         bool keep_mode, const std::string& requested) {
  KHOD_ASSIGN_OR_RETURN(const std::string tmp,
                        WriteUniqueTemp(AT_FDCWD, target, "", data, mode, keep_mode, requested));
  if (::rename(tmp.c_str(), target.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return Status::FromErrno("rename " + tmp + " to " + target, err);
  }
  // The rename itself must survive a crash too; the file is whole either way.
  UniqueFd dir(::open(DirName(target).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.valid()) ::fsync(dir.get());
  return Status::Ok();
}

Status ReplaceFileAt(int dir_fd, const std::string& dir_path, const std::string& name,
                     std::string_view data, mode_t mode, bool keep_mode,
                     const std::string& requested) {
  const std::string shown_dir = dir_path == "/" ? "/" : dir_path + "/";
  KHOD_ASSIGN_OR_RETURN(const std::string tmp,
                        WriteUniqueTemp(dir_fd, name, shown_dir, data, mode, keep_mode, requested));
  return RenameDurably(dir_fd, dir_path, tmp, name);
}

}  // namespace khod
