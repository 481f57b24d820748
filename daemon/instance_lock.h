// InstanceLock: one khod per state directory. khod takes flock(LOCK_EX|LOCK_NB)
// on <state-dir>/khod.lock (opened O_NOFOLLOW in the checked state directory,
// common/safe_file.h) before it binds its socket or reads its record, and
// holds it for its life; a reexec hands the locked fd to the new khod
// (--lock-fd), so the lock is never let go between the two. A second khod on
// the same state dir is refused at start-up naming the holder's pid; the
// first goes on serving.
#ifndef KHOD_DAEMON_INSTANCE_LOCK_H_
#define KHOD_DAEMON_INSTANCE_LOCK_H_

#include <string>

#include "common/status.h"

namespace khod {

class InstanceLock {
 public:
  static constexpr char kFileName[] = "khod.lock";
  // Creates the state directory if needed, then locks. FailedPrecondition
  // "another khod (pid N) holds DIR/khod.lock ..." when it is held.
  static Result<InstanceLock> Acquire(const std::string& state_dir);
  // The fd a reexec handed over (--lock-fd): checked to be <state_dir>/khod.lock
  // (same device and inode as the file opened O_NOFOLLOW in the checked state
  // dir; FailedPrecondition "--lock-fd N is not DIR/khod.lock ..." otherwise,
  // the fd left as it is) and to still hold the lock.
  static Result<InstanceLock> Adopt(int fd, const std::string& state_dir);

  InstanceLock(InstanceLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  InstanceLock& operator=(InstanceLock&&) = delete;
  InstanceLock(const InstanceLock&) = delete;
  ~InstanceLock();
  // Kept open across exec by the caller clearing FD_CLOEXEC, and passed as --lock-fd.
  int fd() const { return fd_; }

 private:
  explicit InstanceLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace khod

#endif  // KHOD_DAEMON_INSTANCE_LOCK_H_
