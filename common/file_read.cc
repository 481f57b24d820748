#include "common/file_read.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "common/file_type_name.h"
#include "common/status_macros.h"

namespace khod {

namespace {

// The read of an open file; the caller closes `fd` whatever this returns.
Result<std::string> ReadOpenFile(int fd, const std::string& named, const FileReadOptions& o) {
  auto refuse = [&](const std::string& m) {
    return o.too_large_is_corruption ? Status::Corruption(m) : Status::InvalidArgument(m);
  };
  struct stat st;
  if (::fstat(fd, &st) != 0) return Status::FromErrno("stat " + named, errno);
  if (S_ISDIR(st.st_mode)) return Status::InvalidArgument(named + " is a directory, not a file");
  // A FIFO would block (or, non-blocking, end at once), a device never ends:
  // neither is a file khod or khoctl reads.
  if (!S_ISREG(st.st_mode))
    return refuse(named + " is " + FileTypeName(st.st_mode) + ", not a regular file");
  uint64_t limit = o.max_bytes;
  auto too_large = [&]() {
    std::string m = named + ": larger than " + std::to_string(limit) + " bytes";
    if (limit < o.max_bytes)
      m += ", more than its header declares";
    else if (!o.too_large_why.empty())
      m += ", " + o.too_large_why;
    return refuse(m);
  };
  // A regular file's size is known up front, except /proc's and debugfs'
  // which say 0: the bound is also checked while reading.
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size > limit) return too_large();
  std::string data;
  bool head_checked = !o.check_head && !o.size_from_head;
  auto check_head = [&]() -> Status {
    head_checked = true;
    if (o.check_head) KHOD_RETURN_IF_ERROR(o.check_head(data));
    if (o.size_from_head) {
      Result<uint64_t> declared = o.size_from_head(data);
      if (!declared.ok()) return declared.status().WithContext(named);
      if (*declared <= o.max_bytes - std::min(o.max_bytes, kDeclaredSizeSlack))
        limit = *declared + kDeclaredSizeSlack;
      if (size > limit || data.size() > limit) return too_large();
    }
    data.reserve(static_cast<size_t>(std::min(size, limit)));
    return Status::Ok();
  };
  char buf[1 << 16];
  for (;;) {
    // Until the head is checked, no more than the head is read.
    const size_t want = head_checked ? sizeof buf : kFileHeadBytes - data.size();
    const ssize_t n = ::read(fd, buf, want);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::FromErrno("read " + named, errno);
    if (n == 0) break;
    if (data.size() + static_cast<uint64_t>(n) > limit) return too_large();
    data.append(buf, static_cast<size_t>(n));
    if (!head_checked && data.size() >= kFileHeadBytes) KHOD_RETURN_IF_ERROR(check_head());
  }
  if (!head_checked) KHOD_RETURN_IF_ERROR(check_head());
  return data;
}

Result<std::string> OpenAndRead(int dir_fd, const std::string& path, const std::string& named,
                                const FileReadOptions& o) {
  const int flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | (o.follow_symlinks ? 0 : O_NOFOLLOW);
  const int fd = ::openat(dir_fd, path.c_str(), flags);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT && o.missing_is_not_found) return Status::NotFound(named + ": no such file");
    if (err == ELOOP && !o.follow_symlinks) {
      const std::string m = named + " is a symbolic link, which khod does not follow";
      return o.too_large_is_corruption ? Status::Corruption(m) : Status::InvalidArgument(m);
    }
    return Status::FromErrno("open " + named, err);
  }
  Result<std::string> data = ReadOpenFile(fd, named, o);
  ::close(fd);
  return data;
}

}  // namespace

Result<std::string> ReadWholeFile(const std::string& path, const FileReadOptions& o) {
  return OpenAndRead(AT_FDCWD, path, o.label + path, o);
}

Result<std::string> ReadWholeFileAt(int dir_fd, const std::string& name,
                                    const std::string& shown_path, const FileReadOptions& o) {
  return OpenAndRead(dir_fd, name, o.label + shown_path, o);
}

Result<std::string> ReadWholeFd(int fd, const std::string& shown_path, const FileReadOptions& o) {
  if (::lseek(fd, 0, SEEK_SET) < 0) return Status::FromErrno("seek " + o.label + shown_path, errno);
  return ReadOpenFile(fd, o.label + shown_path, o);
}

}  // namespace khod
