// kernel/fd_table.h: the descriptor table is grown ahead, so that the dups a
// handover makes in the blackout do not grow it (each growth of a
// multithreaded process's table waits for an RCU grace period); the growth
// stays below the soft RLIMIT_NOFILE.
#include "kernel/fd_table.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <vector>

namespace khod {
namespace {

TEST(FdTableTest, HighestOpenFdSeesAHighDescriptor) {
  Result<int> before = HighestOpenFd();
  ASSERT_TRUE(before.ok()) << before.status().ToString();
  EXPECT_GE(*before, 2);
  const int high = ::fcntl(0, F_DUPFD_CLOEXEC, *before + 40);
  ASSERT_GE(high, *before + 40);
  Result<int> after = HighestOpenFd();
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(*after, high);
  ::close(high);
}

TEST(FdTableTest, ReservedRoomTakesThatManyDupsWithoutGrowing) {
  constexpr int kDups = 600;  // past the first growths of a new table
  ASSERT_TRUE(ReserveFdTable(kDups + 8).ok());
  Result<int> size = FdTableSize();
  Result<int> highest = HighestOpenFd();
  ASSERT_TRUE(size.ok() && highest.ok());
  EXPECT_GT(*size, *highest + kDups);
  std::vector<int> dups;
  for (int i = 0; i < kDups; ++i) dups.push_back(::fcntl(0, F_DUPFD_CLOEXEC, 3));
  Result<int> after = FdTableSize();
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(*after, *size) << "the dups grew the table";
  for (int fd : dups) ::close(fd);
  // Room already there: nothing to do.
  EXPECT_TRUE(ReserveFdTable(kDups).ok());
  EXPECT_EQ(*FdTableSize(), *size);
}

// Told the highest descriptor (what a new khod knows from its flags), the
// table is grown from there, whatever /proc/self/fd would say.
TEST(FdTableTest, RoomAboveAGivenHighestDescriptor) {
  Result<int> highest = HighestOpenFd();
  Result<int> size = FdTableSize();
  ASSERT_TRUE(highest.ok() && size.ok());
  const int told = *size + 100;  // above every open descriptor and the table's end
  ASSERT_TRUE(ReserveFdTableAbove(told, 100).ok());
  Result<int> after = FdTableSize();
  ASSERT_TRUE(after.ok());
  EXPECT_GT(*after, told + 100) << "grown from " << *size;
  EXPECT_EQ(*HighestOpenFd(), *highest) << "the probe's dup is closed";
  // Room already there: nothing to do.
  EXPECT_TRUE(ReserveFdTableAbove(2, 10).ok());
  EXPECT_EQ(*FdTableSize(), *after);
}

TEST(FdTableTest, StaysBelowTheSoftOpenFileLimit) {
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    rlimit l{};
    ::getrlimit(RLIMIT_NOFILE, &l);
    l.rlim_cur = 300;
    if (::setrlimit(RLIMIT_NOFILE, &l) != 0) ::_exit(2);
    if (!ReserveFdTable(1 << 20).ok()) ::_exit(3);
    Result<int> size = FdTableSize();
    // Grown to hold descriptor 299 at most: tables come in sizes of 128 (and more).
    ::_exit(size.ok() && *size >= 256 && *size <= 512 ? 0 : 4);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace khod
