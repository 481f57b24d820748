// kernel/proc_stat.h: CheckOwnLiveChild, the check a new khod makes of the
// children a reexec hands it (mapping holder, PTE keeper). A live child
// passes, whatever its exit signal; a process that is not a child is refused;
// an exited child is NotFound and reaped; and a full fd table changes none of
// it (the check needs no fd: an adopt that failed for EMFILE would leave the
// child, and the old address space it holds, alive until khod exits).
#include "kernel/proc_stat.h"

#include <errno.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

namespace khod {
namespace {

// A child this test started: killed and reaped at scope end unless it was
// reaped already (pid set to -1).
struct Child {
  pid_t pid = -1;
  Child() = default;
  explicit Child(pid_t p) : pid(p) {}
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() { Kill(); }
  void Kill() {
    if (pid <= 0) return;
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, __WALL);
    pid = -1;
  }
};

// In the child: pause until killed, or exit at once. A pausing child dies with `parent` (the
// test's process, its pid taken before the fork), so a test that crashes leaves none behind.
[[noreturn]] void ChildBody(bool exit_now, pid_t parent) {
  if (exit_now) ::_exit(0);
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(0);  // the parent died before the prctl
  for (;;) ::pause();
}

// fork(): exit signal SIGCHLD.
pid_t ForkChild(bool exit_now) {
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) ChildBody(exit_now, parent);
  return pid;
}

// clone() with no exit signal, as fork otherwise (no new stack, no CLONE_VM):
// a "clone child" that waitpid sees only with __WALL or __WCLONE.
pid_t CloneChildWithoutSigchld(bool exit_now) {
  const pid_t parent = ::getpid();
  const long pid =
      ::syscall(SYS_clone, 0L /* flags; exit signal 0 */, nullptr, nullptr, nullptr, nullptr);
  if (pid == 0) ChildBody(exit_now, parent);
  return static_cast<pid_t>(pid);
}

// Blocks until `pid` has exited, leaving it a zombie.
void WaitUntilZombie(pid_t pid) {
  siginfo_t info = {};
  ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT | __WALL), 0)
      << std::strerror(errno);
  ASSERT_EQ(info.si_pid, pid);
}

// Whether `pid` is reaped: no child of this process by that pid any more.
bool Reaped(pid_t pid) {
  errno = 0;
  return ::waitpid(pid, nullptr, WNOHANG | __WALL) == -1 && errno == ECHILD;
}

TEST(CheckOwnLiveChildTest, ALiveForkChildPasses) {
  Child c(ForkChild(false));
  ASSERT_GT(c.pid, 0) << std::strerror(errno);
  const Status s = CheckOwnLiveChild(c.pid, "mapping holder");
  EXPECT_TRUE(s.ok()) << s.ToString();
  // Checked, not consumed: it is still there, and checks again the same.
  EXPECT_EQ(::kill(c.pid, 0), 0);
  const Status again = CheckOwnLiveChild(c.pid, "mapping holder");
  EXPECT_TRUE(again.ok()) << again.ToString();
}

// The mapping holder's kind of child: its exit signal is not SIGCHLD.
TEST(CheckOwnLiveChildTest, ALiveCloneChildWithoutSigchldPasses) {
  Child c(CloneChildWithoutSigchld(false));
  ASSERT_GT(c.pid, 0) << std::strerror(errno);
  // A plain waitpid does not see it: the check must ask with __WALL.
  errno = 0;
  EXPECT_EQ(::waitpid(c.pid, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
  const Status s = CheckOwnLiveChild(c.pid, "mapping holder");
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(::kill(c.pid, 0), 0);
}

TEST(CheckOwnLiveChildTest, AProcessThatIsNotAChildIsRefused) {
  std::vector<pid_t> pids = {1, ::getpid()};
  if (::getppid() > 1) pids.push_back(::getppid());
  for (pid_t pid : pids) {
    const Status s = CheckOwnLiveChild(pid, "mapping holder");
    EXPECT_EQ(s.code(), Status::Code::kFailedPrecondition) << pid << ": " << s.ToString();
    EXPECT_NE(
        s.message().find("pid " + std::to_string(pid) + " is not a mapping holder of this khod"),
        std::string::npos)
        << s.message();
  }
  // /proc is readable here: the message names the real parent.
  const Status self = CheckOwnLiveChild(::getpid(), "PTE keeper");
  EXPECT_NE(self.message().find("its parent is " + std::to_string(::getppid())), std::string::npos)
      << self.message();
  for (pid_t pid : {pid_t{0}, pid_t{-1}})
    EXPECT_EQ(CheckOwnLiveChild(pid, "PTE keeper").code(), Status::Code::kInvalidArgument) << pid;
}

TEST(CheckOwnLiveChildTest, AnExitedChildIsNotFoundAndReaped) {
  for (const bool clone_child : {false, true}) {
    SCOPED_TRACE(clone_child ? "clone child without SIGCHLD" : "fork child");
    Child c(clone_child ? CloneChildWithoutSigchld(true) : ForkChild(true));
    ASSERT_GT(c.pid, 0) << std::strerror(errno);
    ASSERT_NO_FATAL_FAILURE(WaitUntilZombie(c.pid));
    const Status s = CheckOwnLiveChild(c.pid, "PTE keeper");
    EXPECT_EQ(s.code(), Status::Code::kNotFound) << s.ToString();
    EXPECT_NE(s.message().find("PTE keeper pid " + std::to_string(c.pid) + " has exited"),
              std::string::npos)
        << s.message();
    EXPECT_TRUE(Reaped(c.pid)) << "pid " << c.pid << " is still a zombie";
    const pid_t gone = c.pid;
    c.pid = -1;  // reaped: its pid is not ours to kill any more
    // Asked again, it is no child of this process at all.
    EXPECT_EQ(CheckOwnLiveChild(gone, "PTE keeper").code(), Status::Code::kFailedPrecondition);
  }
}

// Holds this process's fd table full (RLIMIT_NOFILE lowered, then dup'd up
// to it) until Restore or scope end, which close every dup and put the limit
// back: the other tests of this binary see the table as it was.
class FullFdTable {
 public:
  FullFdTable() {
    ok_ = ::getrlimit(RLIMIT_NOFILE, &saved_) == 0;
    if (!ok_) return;
    base_ = ::eventfd(0, EFD_CLOEXEC);
    ok_ = base_ >= 0;
    if (!ok_) return;
    rlimit low = saved_;
    low.rlim_cur = std::min<rlim_t>(saved_.rlim_cur, 64);
    limited_ = ::setrlimit(RLIMIT_NOFILE, &low) == 0;
    ok_ = limited_;
    for (int i = 0; ok_ && i < 4096; ++i) {
      const int fd = ::fcntl(base_, F_DUPFD_CLOEXEC, 0);
      if (fd >= 0) {
        dups_.push_back(fd);
        continue;
      }
      ok_ = errno == EMFILE;
      break;
    }
  }
  FullFdTable(const FullFdTable&) = delete;
  FullFdTable& operator=(const FullFdTable&) = delete;
  ~FullFdTable() { Restore(); }

  // Whether the table was filled (every new fd now fails with EMFILE).
  bool ok() const { return ok_; }
  void Restore() {
    for (int fd : dups_) ::close(fd);
    dups_.clear();
    if (base_ >= 0) ::close(base_);
    base_ = -1;
    if (limited_) ::setrlimit(RLIMIT_NOFILE, &saved_);
    limited_ = false;
  }

 private:
  rlimit saved_ = {};
  bool ok_ = false;
  bool limited_ = false;
  int base_ = -1;
  std::vector<int> dups_;
};

// CheckOwnLiveChild needs no fd: with none to spare (/proc/PID/stat cannot be
// opened), a live own child passes, whatever its exit signal; a non-child is
// refused as one; an exited child is found exited and reaped.
TEST(CheckOwnLiveChildTest, AFullFdTableFailsNoCheck) {
  Child fork_child(ForkChild(false));
  ASSERT_GT(fork_child.pid, 0) << std::strerror(errno);
  Child clone_child(CloneChildWithoutSigchld(false));
  ASSERT_GT(clone_child.pid, 0) << std::strerror(errno);
  Child exited(ForkChild(true));
  ASSERT_GT(exited.pid, 0) << std::strerror(errno);
  ASSERT_NO_FATAL_FAILURE(WaitUntilZombie(exited.pid));

  rlimit before = {};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &before), 0);
  int open_errno = 0;
  bool read_failed = false;
  Status read_status;
  Status live_fork, live_clone, not_child, has_exited;
  {
    FullFdTable full;
    ASSERT_TRUE(full.ok()) << std::strerror(errno);
    // The fd a check reading /proc would need: none is left.
    const int probe = ::open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    open_errno = probe < 0 ? errno : 0;
    if (probe >= 0) ::close(probe);
    read_status = ReadProcStat(fork_child.pid).status();
    read_failed = !read_status.ok();
    live_fork = CheckOwnLiveChild(fork_child.pid, "mapping holder");
    live_clone = CheckOwnLiveChild(clone_child.pid, "mapping holder");
    not_child = CheckOwnLiveChild(1, "mapping holder");
    has_exited = CheckOwnLiveChild(exited.pid, "PTE keeper");
    full.Restore();
  }
  rlimit after = {};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &after), 0);
  EXPECT_EQ(after.rlim_cur, before.rlim_cur);
  EXPECT_EQ(after.rlim_max, before.rlim_max);

  EXPECT_EQ(open_errno, EMFILE) << "the fd table was not full";
  EXPECT_TRUE(read_failed) << "/proc/PID/stat was read with the fd table full";
  // A live process whose stat cannot be opened is not said to be gone.
  EXPECT_NE(read_status.code(), Status::Code::kNotFound) << read_status.ToString();
  EXPECT_TRUE(live_fork.ok()) << live_fork.ToString();
  EXPECT_TRUE(live_clone.ok()) << live_clone.ToString();
  EXPECT_EQ(not_child.code(), Status::Code::kFailedPrecondition) << not_child.ToString();
  EXPECT_NE(not_child.message().find("pid 1 is not a mapping holder of this khod"),
            std::string::npos)
      << not_child.message();
  EXPECT_EQ(has_exited.code(), Status::Code::kNotFound) << has_exited.ToString();
  if (Reaped(exited.pid))
    exited.pid = -1;
  else
    ADD_FAILURE() << "pid " << exited.pid << " is still a zombie";
  EXPECT_EQ(::kill(fork_child.pid, 0), 0);
  EXPECT_EQ(::kill(clone_child.pid, 0), 0);
}

}  // namespace
}  // namespace khod
