#include "kernel/memory_file.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "common/background_close.h"
#include "common/printable.h"
#include "common/status_macros.h"
#include "kernel/pidfd.h"

namespace khod {

namespace {
constexpr long kHugetlbfsMagic = 0x958458f6;  // HUGETLBFS_MAGIC
constexpr long kTmpfsMagic = 0x01021994;      // TMPFS_MAGIC (memfds live on shmem)
constexpr const char* kGmemLink = "anon_inode:[kvm-gmem]";
constexpr const char* kMemfdPrefix = "/memfd:";
constexpr const char* kDeletedSuffix = " (deleted)";

bool StartsWith(const std::string& s, const char* p) { return s.rfind(p, 0) == 0; }

// The memfd's name in its raw link "/memfd:NAME (deleted)", raw too.
std::string MemfdName(const std::string& link) {
  std::string name = link.substr(std::strlen(kMemfdPrefix));
  const size_t suffix = std::strlen(kDeletedSuffix);
  if (name.size() >= suffix && name.compare(name.size() - suffix, suffix, kDeletedSuffix) == 0)
    name.resize(name.size() - suffix);
  return name;
}

// The link as the kernel gives it: any bytes the file's creator put in its
// name (memfd_create takes all but '/'). Compared, never shown.
Result<std::string> RawFdLink(int fd) {
  char buf[4096];
  const std::string proc = "/proc/self/fd/" + std::to_string(fd);
  const ssize_t n = ::readlink(proc.c_str(), buf, sizeof(buf));
  if (n < 0) return Status::FromErrno("readlink " + proc, errno);
  return std::string(buf, static_cast<size_t>(n));
}
}  // namespace

Result<std::string> OwnFdLink(int fd) {
  KHOD_ASSIGN_OR_RETURN(const std::string raw, RawFdLink(fd));
  return EscapeNonPrintable(raw);
}

Result<MemoryFileIdentity> IdentifyMemoryFile(int fd, const std::string& label) {
  const std::string name = label.empty() ? "fd " + std::to_string(fd) : label;
  // Nothing below asks the file's filesystem: the fd is any file its owner
  // chose, and a FUSE or network filesystem's server may never answer. statx
  // with AT_STATX_DONT_SYNC takes the attributes the kernel has (fstat would
  // ask a FUSE server), readlink and F_GETFL answer from the open file, and
  // F_GET_SEALS, which only shmem and hugetlbfs files answer, rules out every
  // other filesystem before fstatfs is asked.
  struct statx stx;
  if (::statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_TYPE | STATX_SIZE | STATX_INO,
              &stx) < 0) {
    if (errno == EBADF) return Status::NotFound(name + " is not open");
    return Status::FromErrno("statx " + name, errno);
  }
  constexpr unsigned kWanted = STATX_TYPE | STATX_SIZE | STATX_INO;
  if ((stx.stx_mask & kWanted) != kWanted)
    return Status::FailedPrecondition("statx " + name + " gives no type, size or inode");
  MemoryFileIdentity id;
  // Every check below is on the raw link; what is kept and shown is escaped.
  KHOD_ASSIGN_OR_RETURN(const std::string raw, RawFdLink(fd));
  id.link = EscapeNonPrintable(raw);
  id.size = stx.stx_size;
  id.inode = stx.stx_ino;
  id.page_size = static_cast<uint64_t>(getpagesize());
  const std::string what = name + " (" + id.link + ")";
  // statx and readlink answer an O_PATH or write-only fd too; every use of
  // the file (mapping, reading, hashing) needs it open for reading.
  const int open_flags = ::fcntl(fd, F_GETFL);
  if (open_flags < 0) return Status::FromErrno("fcntl F_GETFL " + what, errno);
  if (open_flags & O_PATH)
    return Status::FailedPrecondition(what +
                                      " is an O_PATH fd, which reads nothing: give the file open "
                                      "for reading");
  if ((open_flags & O_ACCMODE) == O_WRONLY)
    return Status::FailedPrecondition(what + " is open write-only: give the file open for reading");

  if (raw == kGmemLink) {
    id.kind = FileKind::kGuestMemfd;
    return id;
  }
  if (!S_ISREG(stx.stx_mode))
    return Status::FailedPrecondition(what + " is not a guest_memfd, memfd or hugetlbfs file");
  if (::fcntl(fd, F_GET_SEALS) < 0)  // EINVAL: neither shmem nor hugetlbfs
    return Status::FailedPrecondition(
        what + " is a regular file, not a guest_memfd, memfd or hugetlbfs file");
  struct statfs sfs;
  if (::fstatfs(fd, &sfs) < 0) return Status::FromErrno("fstatfs " + what, errno);
  if (static_cast<long>(sfs.f_type) == kHugetlbfsMagic) {
    id.kind = FileKind::kHugetlbMemfd;
    id.page_size = static_cast<uint64_t>(sfs.f_bsize);
    if (StartsWith(raw, kMemfdPrefix)) id.memfd_name = EscapeNonPrintable(MemfdName(raw));
    return id;
  }
  if (StartsWith(raw, kMemfdPrefix) && static_cast<long>(sfs.f_type) == kTmpfsMagic) {
    id.kind = FileKind::kShmemMemfd;
    id.memfd_name = EscapeNonPrintable(MemfdName(raw));
    return id;
  }
  return Status::FailedPrecondition(
      what + " is a regular file, not a guest_memfd, memfd or hugetlbfs file");
}

Result<UniqueFd> TakeFdFromProcess(pid_t pid, int target_fd) {
  if (pid <= 0)
    return Status::InvalidArgument("pid " + std::to_string(pid) + " is not a process id");
  if (target_fd < 0)
    return Status::InvalidArgument("fd " + std::to_string(target_fd) + " is negative");
  KHOD_ASSIGN_OR_RETURN(const UniqueFd pidfd, OpenPidfd(pid));
  int fd = static_cast<int>(::syscall(SYS_pidfd_getfd, pidfd.get(), target_fd, 0));
  if (fd < 0) {
    const std::string what = "fd " + std::to_string(target_fd) + " of pid " + std::to_string(pid);
    if (errno == EBADF) return Status::NotFound(what + " is not open");
    if (errno == ESRCH) return Status::NotFound("pid " + std::to_string(pid) + " has exited");
    if (errno == EPERM || errno == EACCES)
      return Status::PermissionDenied("pidfd_getfd " + what + ": " + std::strerror(errno) +
                                      " (needs ptrace rights over the VMM, e.g. root)");
    return Status::FromErrno("pidfd_getfd " + what, errno);
  }
  return UniqueFd(fd);
}

Result<TakenMemoryFile> TakeMemoryFileFromProcess(pid_t pid, int target_fd) {
  const std::string what = "fd " + std::to_string(target_fd) + " of pid " + std::to_string(pid);
  KHOD_RETURN_IF_ERROR(BackgroundCloseRoom("taking " + what));
  TakenMemoryFile t;
  KHOD_ASSIGN_OR_RETURN(t.file, TakeFdFromProcess(pid, target_fd));
  Result<MemoryFileIdentity> id = IdentifyMemoryFile(t.file.get(), what);
  if (!id.ok()) {
    CloseInBackground(std::move(t.file));
    return id.status();
  }
  t.identity = std::move(*id);
  return t;
}

}  // namespace khod
