// kernel/pidfd.h: OpenPidfd, the one place khod opens a pidfd. The pidfd is close-on-exec and
// never fd 0 to 2 (a BPF task iterator reads a pid_fd of 0 as "every process"); a pid no
// process has is NotFound naming it, a pid that is no process id or a thread's id is
// InvalidArgument, and any other failure (a full fd table) is an IoError, never a crash.
#include "kernel/pidfd.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "tests/support/fixture.h"

namespace khod {
namespace {

bool Cloexec(int fd) {
  const int flags = ::fcntl(fd, F_GETFD);
  return flags >= 0 && (flags & FD_CLOEXEC) != 0;
}

// Whether `pidfd` is a pidfd of a live process (signal 0 reaches it).
bool NamesALiveProcess(int pidfd) {
  return ::syscall(SYS_pidfd_send_signal, pidfd, 0, nullptr, 0) == 0;
}

TEST(OpenPidfdTest, OwnPidOpensCloseOnExecAboveStdio) {
  Result<UniqueFd> fd = OpenPidfd(::getpid());
  ASSERT_TRUE(fd.ok()) << fd.status().ToString();
  EXPECT_GT(fd->get(), STDERR_FILENO);
  EXPECT_TRUE(Cloexec(fd->get()));
  EXPECT_TRUE(NamesALiveProcess(fd->get()));
}

// With 0 to 2 free, where pidfd_open returns 0, the pidfd is moved above 2 and 0 is left free.
// Run in a child, whose standard fds it may close; its exit code says what went wrong.
TEST(OpenPidfdTest, WithStdioClosedThePidfdIsStillAbove2) {
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    for (int fd = 0; fd <= STDERR_FILENO; ++fd) ::close(fd);
    if (::fcntl(0, F_GETFD) != -1) ::_exit(10);
    Result<UniqueFd> fd = OpenPidfd(::getpid());
    if (!fd.ok()) ::_exit(11);
    if (fd->get() <= STDERR_FILENO) ::_exit(12);
    if (!Cloexec(fd->get())) ::_exit(13);
    if (!NamesALiveProcess(fd->get())) ::_exit(14);
    for (int i = 0; i <= STDERR_FILENO; ++i)
      if (::fcntl(i, F_GETFD) != -1) ::_exit(15);
    ::_exit(0);
  }
  EXPECT_EQ(ChildEnd(child), "exit 0")
      << "10: fd 0 did not close; 11: OpenPidfd failed; 12: the pidfd is 0 to 2; 13: it is "
         "not close-on-exec; 14: it does not signal this process; 15: an fd of 0 to 2 was left "
         "open";
}

// An exited child that is not reaped still has its pid: it opens, and the pidfd polls
// readable (exited). Once reaped, no process has the pid: NotFound naming it.
TEST(OpenPidfdTest, AZombieOpensAndAReapedChildIsNotFound) {
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) ::_exit(0);
  siginfo_t info = {};
  ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(child), &info, WEXITED | WNOWAIT), 0);
  {
    Result<UniqueFd> zombie = OpenPidfd(child);
    ASSERT_TRUE(zombie.ok()) << zombie.status().ToString();
    pollfd exited = {zombie->get(), POLLIN, 0};
    EXPECT_EQ(::poll(&exited, 1, 0), 1);
  }
  ASSERT_EQ(::waitpid(child, nullptr, 0), child);
  Result<UniqueFd> gone = OpenPidfd(child);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.status().code(), Status::Code::kNotFound) << gone.status().ToString();
  EXPECT_EQ(gone.status().message(), "no process with pid " + std::to_string(child));
}

TEST(OpenPidfdTest, APidThatIsNoProcessIdIsInvalidArgument) {
  for (const pid_t pid : {0, -1, -12345}) {
    Result<UniqueFd> fd = OpenPidfd(pid);
    ASSERT_FALSE(fd.ok()) << pid;
    EXPECT_EQ(fd.status().code(), Status::Code::kInvalidArgument) << fd.status().ToString();
    EXPECT_NE(fd.status().message().find("pid " + std::to_string(pid) + " "), std::string::npos)
        << fd.status().message();
  }
}

// The id of a live thread that does not lead its group names no process (EINVAL, or ENOENT on
// newer kernels): InvalidArgument naming it, not an IoError.
TEST(OpenPidfdTest, AThreadIdIsInvalidArgument) {
  pid_t thread_id = -1;
  Result<UniqueFd> fd = WithAnotherThreadsId([&thread_id](pid_t tid) {
    thread_id = tid;
    return OpenPidfd(tid);
  });
  ASSERT_NE(thread_id, ::getpid());
  ASSERT_FALSE(fd.ok());
  EXPECT_EQ(fd.status().code(), Status::Code::kInvalidArgument) << fd.status().ToString();
  EXPECT_NE(fd.status().message().find("pid " + std::to_string(thread_id)), std::string::npos)
      << fd.status().message();
}

// A full fd table is the kernel's EMFILE: an IoError naming pidfd_open and the pid. Run in a
// child, whose fd limit it may lower; its exit code says what went wrong.
TEST(OpenPidfdTest, AFullFdTableIsAnIoError) {
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    const rlimit few = {16, 16};
    if (::setrlimit(RLIMIT_NOFILE, &few) != 0) ::_exit(10);
    while (::fcntl(0, F_DUPFD_CLOEXEC, 0) >= 0) {
    }
    Result<UniqueFd> fd = OpenPidfd(::getpid());
    if (fd.ok()) ::_exit(11);
    if (fd.status().code() != Status::Code::kIoError) ::_exit(12);
    if (fd.status().message().find("pidfd_open " + std::to_string(::getpid())) == std::string::npos)
      ::_exit(13);
    ::_exit(0);
  }
  EXPECT_EQ(ChildEnd(child), "exit 0")
      << "10: setrlimit failed; 11: OpenPidfd opened past the limit; 12: its error is not an "
         "IoError; 13: the error does not name pidfd_open and the pid";
}

}  // namespace
}  // namespace khod
