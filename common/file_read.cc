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

Status Refused(const std::string& m, const FileReadOptions& o) {
  return o.too_large_is_corruption ? Status::Corruption(m) : Status::InvalidArgument(m);
}

// What ReadWholeFile says of a file past `limit` bytes (`o.max_bytes`, or
// less where the header declared less).
Status TooLarge(const std::string& named, uint64_t limit, const FileReadOptions& o) {
  std::string m = named + ": larger than " + std::to_string(limit) + " bytes";
  if (limit < o.max_bytes)
    m += ", more than its header declares";
  else if (!o.too_large_why.empty())
    m += ", " + o.too_large_why;
  return Refused(m, o);
}

// An open file is one to read: a regular file (a FIFO would block, or,
// non-blocking, end at once; a device never ends) no larger than
// `o.max_bytes` by its size (/proc's and debugfs' say 0: the bound is also
// checked while reading). Its size in `*size`.
Status CheckReadable(int fd, const std::string& named, const FileReadOptions& o, uint64_t* size) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return Status::FromErrno("stat " + named, errno);
  if (S_ISDIR(st.st_mode)) return Status::InvalidArgument(named + " is a directory, not a file");
  if (!S_ISREG(st.st_mode))
    return Refused(named + " is " + FileTypeName(st.st_mode) + ", not a regular file", o);
  *size = static_cast<uint64_t>(st.st_size);
  if (*size > o.max_bytes) return TooLarge(named, o.max_bytes, o);
  return Status::Ok();
}

// The read of an open file; the caller closes `fd` whatever this returns.
Result<std::string> ReadOpenFile(int fd, const std::string& named, const FileReadOptions& o) {
  uint64_t size = 0;
  KHOD_RETURN_IF_ERROR(CheckReadable(fd, named, o, &size));
  uint64_t limit = o.max_bytes;
  auto too_large = [&]() { return TooLarge(named, limit, o); };
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

// open(2) of `path` in `dir_fd` as every read here opens: an error names the
// file as `named`.
Result<UniqueFd> OpenToRead(int dir_fd, const std::string& path, const std::string& named,
                            const FileReadOptions& o) {
  const int flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | (o.follow_symlinks ? 0 : O_NOFOLLOW);
  UniqueFd fd(::openat(dir_fd, path.c_str(), flags));
  if (!fd.valid()) {
    const int err = errno;
    if (err == ENOENT && o.missing_is_not_found) return Status::NotFound(named + ": no such file");
    if (err == ELOOP && !o.follow_symlinks)
      return Refused(named + " is a symbolic link, which khod does not follow", o);
    return Status::FromErrno("open " + named, err);
  }
  return fd;
}

Result<std::string> OpenAndRead(int dir_fd, const std::string& path, const std::string& named,
                                const FileReadOptions& o) {
  Result<UniqueFd> fd = OpenToRead(dir_fd, path, named, o);
  if (!fd.ok()) return fd.status();
  return ReadOpenFile(fd->get(), named, o);
}

}  // namespace

Result<std::string> ReadWholeFile(const std::string& path, const FileReadOptions& o) {
  return OpenAndRead(AT_FDCWD, path, o.label + path, o);
}

Result<std::string> ReadWholeFileAt(int dir_fd, const std::string& name,
                                    const std::string& shown_path, const FileReadOptions& o) {
  return OpenAndRead(dir_fd, name, o.label + shown_path, o);
}

Result<UniqueFd> OpenFileToRead(const std::string& path, const FileReadOptions& o) {
  const std::string named = o.label + path;
  Result<UniqueFd> fd = OpenToRead(AT_FDCWD, path, named, o);
  if (!fd.ok()) return fd.status();
  uint64_t size = 0;
  KHOD_RETURN_IF_ERROR(CheckReadable(fd->get(), named, o, &size));
  return fd;
}

Status FileTooLarge(const std::string& path, const FileReadOptions& o) {
  return TooLarge(o.label + path, o.max_bytes, o);
}

Result<std::string> ReadWholeFd(int fd, const std::string& shown_path, const FileReadOptions& o) {
  if (::lseek(fd, 0, SEEK_SET) < 0) return Status::FromErrno("seek " + o.label + shown_path, errno);
  return ReadOpenFile(fd, o.label + shown_path, o);
}

}  // namespace khod
