#include "daemon/instance_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <utility>

#include "common/safe_file.h"
#include "common/unique_fd.h"

namespace khod {

InstanceLock::~InstanceLock() {
  if (fd_ >= 0) ::close(fd_);
}

Result<InstanceLock> InstanceLock::Acquire(const std::string& state_dir) {
  Result<SafeDir> dir = SafeDir::Open(state_dir, 0700);
  if (!dir.ok()) return dir.status().WithContext("state dir");
  const std::string named = dir->PathOf(kFileName);
  // Never created afresh or unlinked: the inode is what is locked, and a
  // khod holding it must keep holding the one its successor opens.
  const int fd =
      ::openat(dir->fd(), kFileName, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0600);
  if (fd < 0) return Status::FromErrno("open " + named, errno);
  InstanceLock lock(fd);
  struct stat st;
  if (::fstat(fd, &st) != 0) return Status::FromErrno("stat " + named, errno);
  if (!S_ISREG(st.st_mode)) return Status::FailedPrecondition(named + " is not a regular file");
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) return Status::FromErrno("flock " + named, errno);
    char pid[32] = {};
    const ssize_t n = ::pread(fd, pid, sizeof pid - 1, 0);
    std::string holder = n > 0 ? std::string(pid, static_cast<size_t>(n)) : "";
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == '\0')) holder.pop_back();
    return Status::FailedPrecondition(
        "another khod" + (holder.empty() ? std::string() : " (pid " + holder + ")") + " holds " +
        named + ": one khod per state dir; this one does not start");
  }
  // Who holds it, for the message above (not trusted for anything else).
  const std::string me = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, me.data(), me.size(), 0) < 0) {
    // The lock is what counts; the pid is a courtesy.
  }
  return lock;
}

Result<InstanceLock> InstanceLock::Adopt(int fd, const std::string& state_dir) {
  const std::string flag = "--lock-fd " + std::to_string(fd);
  // The state dir's own lock file, and nothing else flock accepts: the same
  // device and inode as khod.lock opened O_NOFOLLOW in the checked state dir.
  // Not taken (nor closed) unless it is.
  Result<SafeDir> dir = SafeDir::Open(state_dir, 0);
  if (!dir.ok()) return dir.status().WithContext(flag + ": state dir");
  const std::string named = dir->PathOf(kFileName);
  const UniqueFd lock_file(
      ::openat(dir->fd(), kFileName, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
  if (!lock_file.valid()) return Status::FromErrno(flag + ": open " + named, errno);
  struct stat want, got;
  if (::fstat(lock_file.get(), &want) != 0)
    return Status::FromErrno(flag + ": stat " + named, errno);
  if (::fstat(fd, &got) != 0) return Status::FromErrno(flag + " (" + named + ")", errno);
  if (got.st_dev != want.st_dev || got.st_ino != want.st_ino)
    return Status::FailedPrecondition(
        flag + " is not " + named + " (it is device " + std::to_string(got.st_dev) + " inode " +
        std::to_string(got.st_ino) + ", the lock file device " + std::to_string(want.st_dev) +
        " inode " + std::to_string(want.st_ino) +
        "): a reexec hands on the state dir's lock, nothing else; this khod does not start");
  InstanceLock lock(fd);
  // The same open file description still holds it: flock succeeds at once.
  if (::fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 || ::flock(fd, LOCK_EX | LOCK_NB) != 0)
    return Status::FromErrno(flag + " (" + named + ")", errno);
  return lock;  // exec kept the pid the file names
}

}  // namespace khod
