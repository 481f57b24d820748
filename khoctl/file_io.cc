#include "khoctl/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <utility>

#include "common/status_macros.h"
#include "common/unique_fd.h"

namespace khod {

namespace {

Status WriteAll(int fd, const std::string& data, const std::string& what) {
  for (size_t done = 0; done < data.size();) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status::FromErrno("write " + what, n < 0 ? errno : EIO);
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

std::string DirName(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// A device or FIFO (-o /dev/null, -o /dev/stdout): renaming over it would
// replace the node, so the bytes go straight in.
Status WriteInPlace(const std::string& path, const std::string& data) {
  UniqueFd f(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!f.valid()) return Status::FromErrno("open " + path, errno);
  KHOD_RETURN_IF_ERROR(WriteAll(f.get(), data, path));
  // Released by hand: a failed close is a failed write here.
  if (::close(f.release()) != 0) return Status::FromErrno("close " + path, errno);
  return Status::Ok();
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
  std::string target = path;
  mode_t mode = 0666;  // a new file: the umask applies at open
  bool keep_mode = false;
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return Status::InvalidArgument(path + " is a directory, not a file");
    if (!S_ISREG(st.st_mode)) return WriteInPlace(path, data);
    // Replace what a symlink points at, not the link.
    char real[PATH_MAX];
    if (::realpath(path.c_str(), real) == nullptr)
      return Status::FromErrno("resolve " + path, errno);
    target = real;
    mode = st.st_mode & 07777;
    keep_mode = true;
  }
  // A unique name: OUT.tmp may be someone's file, and two writers must not collide.
  std::random_device rd;
  std::string tmp;
  UniqueFd f;
  for (int attempt = 0; !f.valid(); ++attempt) {
    char suffix[32];
    std::snprintf(suffix, sizeof suffix, ".tmp-%d-%08x", static_cast<int>(::getpid()), rd());
    tmp = target + suffix;
    f.reset(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
    if (!f.valid() && (errno != EEXIST || attempt >= 100))
      return Status::FromErrno("create " + tmp + " (for " + path + ")", errno);
  }
  Status s = WriteAll(f.get(), data, tmp);
  if (s.ok() && keep_mode && ::fchmod(f.get(), mode) != 0)
    s = Status::FromErrno("chmod " + tmp, errno);
  if (s.ok() && ::fsync(f.get()) != 0) s = Status::FromErrno("fsync " + tmp, errno);
  if (::close(f.release()) != 0 && s.ok()) s = Status::FromErrno("close " + tmp, errno);
  if (s.ok() && ::rename(tmp.c_str(), target.c_str()) != 0)
    s = Status::FromErrno("rename " + tmp + " to " + target, errno);
  if (!s.ok()) {
    ::unlink(tmp.c_str());
    return s;
  }
  // The rename itself must survive a crash too.
  UniqueFd dir(::open(DirName(target).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.valid()) ::fsync(dir.get());
  return Status::Ok();
}

}  // namespace khod
