#include "khoctl/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <utility>

#include "common/atomic_file.h"
#include "common/status_macros.h"
#include "common/unique_fd.h"

namespace khod {

namespace {

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
  return ReplaceFileAtPath(target, data, mode, keep_mode, path);
}

}  // namespace khod
