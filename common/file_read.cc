#include "common/file_read.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace khod {

namespace {

// The read of an open file; the caller closes `fd` whatever this returns.
Result<std::string> ReadOpenFile(int fd, const std::string& named, const FileReadOptions& o) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return Status::FromErrno("stat " + named, errno);
  if (S_ISDIR(st.st_mode)) return Status::InvalidArgument(named + " is a directory, not a file");
  auto too_large = [&]() {
    std::string m = named + ": larger than " + std::to_string(o.max_bytes) + " bytes";
    if (!o.too_large_why.empty()) m += ", " + o.too_large_why;
    return o.too_large_is_corruption ? Status::Corruption(m) : Status::InvalidArgument(m);
  };
  // A regular file's size is known up front; /proc files and devices say 0
  // or nothing useful, so the bound is also checked while reading.
  if (S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) > o.max_bytes) return too_large();
  std::string data;
  if (S_ISREG(st.st_mode)) data.reserve(static_cast<size_t>(st.st_size));
  bool head_checked = !o.check_head;
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::FromErrno("read " + named, errno);
    if (n == 0) break;
    if (data.size() + static_cast<uint64_t>(n) > o.max_bytes) return too_large();
    data.append(buf, static_cast<size_t>(n));
    if (!head_checked && data.size() >= kFileHeadBytes) {
      head_checked = true;
      KHOD_RETURN_IF_ERROR(o.check_head(data));
    }
  }
  if (!head_checked) KHOD_RETURN_IF_ERROR(o.check_head(data));
  return data;
}

}  // namespace

Result<std::string> ReadWholeFile(const std::string& path, const FileReadOptions& o) {
  const std::string named = o.label + path;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT && o.missing_is_not_found) return Status::NotFound(named + ": no such file");
    return Status::FromErrno("open " + named, err);
  }
  Result<std::string> data = ReadOpenFile(fd, named, o);
  ::close(fd);
  return data;
}

}  // namespace khod
