#include "common/patched_file.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/atomic_file.h"
#include "common/status_macros.h"

namespace khod {

namespace {

// The file open as `fd`, opened again with `flags` through /proc: that very
// inode, whatever its name is now.
UniqueFd Reopen(int fd, int flags) {
  return UniqueFd(::open(("/proc/self/fd/" + std::to_string(fd)).c_str(), flags | O_CLOEXEC));
}

}  // namespace

Result<PatchedFile> PatchedFile::Create(const SafeDir& dir, std::string_view name,
                                        std::string_view data) {
  KHOD_ASSIGN_OR_RETURN(UniqueFd fd, dir.CreateNew(name));
  const std::string named = dir.PathOf(name);
  UniqueFd made = Reopen(fd.get(), O_PATH);
  Status s = made.valid() ? Status::Ok() : Status::FromErrno("reopen " + named, errno);
  if (s.ok()) s = WriteAll(fd.get(), data, named);
  if (s.ok() && ::fsync(fd.get()) != 0) s = Status::FromErrno("fsync " + named, errno);
  if (s.ok() && ::close(fd.release()) != 0) s = Status::FromErrno("close " + named, errno);
  if (!s.ok()) {
    dir.Remove(name);
    return s;
  }
  PatchedFile f(dir, std::string(name), std::move(made));
  f.holds_.assign(data.data(), data.size());
  return f;
}

PageRuns PatchedFile::Differing(std::string_view data) const {
  return known_ ? DifferingPageRuns(holds_, data, kPageBytes) : AllPages(data);
}

Result<uint64_t> PatchedFile::Patch(std::string_view data, const PageRuns& differing) {
  const std::string named = dir_.PathOf(name_);
  // Reopened through the O_PATH fd: the very inode Create made, whatever
  // sits under its name now (a FIFO or a device there is never opened).
  UniqueFd file = Reopen(made_.get(), O_WRONLY);
  if (!file.valid()) return Status::FromErrno("reopen " + named, errno);
  KHOD_RETURN_IF_ERROR(StillNamed(name_));
  const int fd = file.get();
  known_ = false;  // from here on the file holds neither holds_ nor, until done, data
  KHOD_RETURN_IF_ERROR(WritePageRuns(fd, data, differing, named));
  if (::ftruncate(fd, static_cast<off_t>(data.size())) != 0)
    return Status::FromErrno("truncate " + named, errno);
  if (::fdatasync(fd) != 0) return Status::FromErrno("fdatasync " + named, errno);
  if (::close(file.release()) != 0) return Status::FromErrno("close " + named, errno);
  return differing.pages(kPageBytes);
}

std::string PatchedFile::TakeCopy() {
  known_ = false;
  return std::move(holds_);
}

Status PatchedFile::StillNamed(const std::string& name) const {
  struct stat st, made;
  if (::fstatat(dir_.fd(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 ||
      ::fstat(made_.get(), &made) != 0)
    return Status::FromErrno("stat " + dir_.PathOf(name), errno);
  if (!S_ISREG(st.st_mode) || st.st_dev != made.st_dev || st.st_ino != made.st_ino)
    return Status::FailedPrecondition(dir_.PathOf(name) + " is not the file khod wrote there");
  return Status::Ok();
}

Status PatchedFile::Rename(std::string_view to) {
  KHOD_RETURN_IF_ERROR(dir_.Rename(name_, to));
  name_ = std::string(to);
  // What was renamed must be the file written: one swapped in under the old
  // name since is refused (the caller writes its bytes afresh instead).
  return StillNamed(name_);
}

}  // namespace khod
