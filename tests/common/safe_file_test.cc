// common/safe_file: a directory SafeDir makes is durable in its parent before
// anything is written into it (the parent is fsynced), and one whose parent
// cannot be synced is not left behind. fsync is interposed in this binary
// (below) to see which directories are synced and to make one fail.
#include "common/safe_file.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>
#include <set>
#include <string>
#include <utility>

#include "tests/support/fixture.h"

namespace {

// (device, inode) of each directory fsync was called on; fsync of
// `fail_inode` fails with EIO.
std::mutex synced_mu;
std::set<std::pair<dev_t, ino_t>> synced_dirs;
ino_t fail_inode = 0;

}  // namespace

// Every fsync of this process, khod's own code's included, comes here first.
extern "C" int fsync(int fd) {
  struct stat st;
  if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    std::lock_guard<std::mutex> l(synced_mu);
    if (fail_inode != 0 && st.st_ino == fail_inode) {
      errno = EIO;
      return -1;
    }
    synced_dirs.insert({st.st_dev, st.st_ino});
  }
  return static_cast<int>(::syscall(SYS_fsync, fd));
}

namespace khod {
namespace {

std::pair<dev_t, ino_t> IdOf(const std::string& path) {
  struct stat st;
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return {st.st_dev, st.st_ino};
}

bool Synced(const std::string& path) {
  const std::pair<dev_t, ino_t> id = IdOf(path);
  std::lock_guard<std::mutex> l(synced_mu);
  return synced_dirs.count(id) != 0;
}

void ForgetSyncs() {
  std::lock_guard<std::mutex> l(synced_mu);
  synced_dirs.clear();
  fail_inode = 0;
}

class SafeDirSyncTest : public ::testing::Test {
 protected:
  void SetUp() override { ForgetSyncs(); }
  void TearDown() override { ForgetSyncs(); }
  TempDir tmp_{"safe-file"};
  const std::string base_ = tmp_.path();
};

TEST_F(SafeDirSyncTest, ADirectoryOpenSubMakesIsSyncedInItsParent) {
  Result<SafeDir> root = SafeDir::Open(base_, 0700);
  ASSERT_TRUE(root.ok()) << root.status().ToString();
  ForgetSyncs();
  bool created = false;
  Result<SafeDir> sub = root->OpenSub("pmem0", 0700, &created);
  ASSERT_TRUE(sub.ok()) << sub.status().ToString();
  EXPECT_TRUE(created);
  EXPECT_TRUE(Synced(base_)) << "the new entry pmem0 was not made durable";
  // One that was there already is not made, and nothing is synced for it.
  ForgetSyncs();
  Result<SafeDir> again = root->OpenSub("pmem0", 0700, &created);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_FALSE(created);
  EXPECT_FALSE(Synced(base_));
}

TEST_F(SafeDirSyncTest, EveryDirectoryOpenMakesIsSyncedInItsParent) {
  const std::string state = base_ + "/var/lib/khod";
  Result<SafeDir> d = SafeDir::Open(state, 0700);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  for (const std::string& parent : {base_, base_ + "/var", base_ + "/var/lib"})
    EXPECT_TRUE(Synced(parent)) << parent << " holds a directory made and was not synced";
}

TEST_F(SafeDirSyncTest, ADirectoryWhoseParentCannotBeSyncedIsNotLeftBehind) {
  Result<SafeDir> root = SafeDir::Open(base_, 0700);
  ASSERT_TRUE(root.ok()) << root.status().ToString();
  fail_inode = IdOf(base_).second;
  bool created = true;
  Result<SafeDir> sub = root->OpenSub("pmem0", 0700, &created);
  ASSERT_FALSE(sub.ok());
  EXPECT_NE(sub.status().message().find("fsync the directory holding " + base_ + "/pmem0"),
            std::string::npos)
      << sub.status().ToString();
  EXPECT_FALSE(created);
  EXPECT_NE(::access((base_ + "/pmem0").c_str(), F_OK), 0) << "left behind, made by no one";
  // Nor a parent made on the way to a state dir.
  Result<SafeDir> d = SafeDir::Open(base_ + "/a/b", 0700);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(::access((base_ + "/a").c_str(), F_OK), 0);
}

}  // namespace
}  // namespace khod
