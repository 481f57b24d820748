// ProbeGmemPagesShared on a memfd, whose pages the host may fault like a
// guest_memfd made with INIT_SHARED: it answers shared, and the page its
// populate made in a hole is punched out again, while a page that held data
// keeps it. (A private guest_memfd's EFAULT is rebuild_target_test's, with
// /dev/kvm.)
#include "kernel/gmem_shared_probe.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/unique_fd.h"

namespace khod {
namespace {

constexpr size_t kPage = 4096;

UniqueFd Memfd(size_t size) {
  UniqueFd fd(::memfd_create("probe", MFD_CLOEXEC));
  EXPECT_TRUE(fd.valid());
  EXPECT_EQ(::ftruncate(fd.get(), static_cast<off_t>(size)), 0);
  return fd;
}

long Blocks(int fd) {
  struct stat st;
  return ::fstat(fd, &st) == 0 ? static_cast<long>(st.st_blocks) : -1;
}

TEST(GmemSharedProbeTest, AHoleIsProbedAndLeftAHole) {
  UniqueFd fd = Memfd(4 * kPage);
  Result<bool> shared = ProbeGmemPagesShared(fd.get(), kPage);
  ASSERT_TRUE(shared.ok()) << shared.status().ToString();
  EXPECT_TRUE(*shared);
  EXPECT_EQ(Blocks(fd.get()), 0) << "the page the populate made is still allocated";
}

TEST(GmemSharedProbeTest, APageWithDataKeepsIt) {
  UniqueFd fd = Memfd(4 * kPage);
  const char data[] = "guest";
  ASSERT_EQ(::pwrite(fd.get(), data, sizeof data, 0), static_cast<ssize_t>(sizeof data));
  const long before = Blocks(fd.get());
  ASSERT_GT(before, 0);
  Result<bool> shared = ProbeGmemPagesShared(fd.get(), kPage);
  ASSERT_TRUE(shared.ok()) << shared.status().ToString();
  EXPECT_TRUE(*shared);
  EXPECT_EQ(Blocks(fd.get()), before);
  char back[sizeof data] = {};
  ASSERT_EQ(::pread(fd.get(), back, sizeof back, 0), static_cast<ssize_t>(sizeof back));
  EXPECT_STREQ(back, data);
}

TEST(GmemSharedProbeTest, AFileThatCannotBeMappedIsAnErrorNamingTheCall) {
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  UniqueFd r(pipe_fds[0]), w(pipe_fds[1]);
  Result<bool> shared = ProbeGmemPagesShared(r.get(), kPage);
  ASSERT_FALSE(shared.ok());
  EXPECT_NE(shared.status().message().find("mmap of page 0"), std::string::npos)
      << shared.status().ToString();
}

}  // namespace
}  // namespace khod
