// common/atomic_file: the one write loop writes everything through short
// writes, a failed step names its file, a failed rename leaves the target and
// no temporary, and ReplaceFileAtPath leaves only the target behind.
#include "common/atomic_file.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "common/unique_fd.h"
#include "tests/support/fixture.h"

namespace khod {
namespace {

TEST(AtomicFileTest, WriteAllGoesThroughShortWrites) {
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  const std::string data(1 << 20, 'k');  // far more than a pipe takes at once
  std::string got;
  std::thread reader([&] {
    char b[4096];
    for (ssize_t n; (n = ::read(p[0], b, sizeof b)) > 0;) got.append(b, static_cast<size_t>(n));
  });
  Status s = WriteAll(p[1], data, "pipe");
  ::close(p[1]);
  reader.join();
  ::close(p[0]);
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(got, data);
}

TEST(AtomicFileTest, AFailedWriteNamesItsFile) {
  UniqueFd f(::open("/dev/full", O_WRONLY | O_CLOEXEC));
  if (!f.valid()) GTEST_SKIP() << "no /dev/full";
  Status s = WriteSyncClose(f.release(), "x", "the blob");
  EXPECT_EQ(s.code(), Status::Code::kIoError);
  EXPECT_EQ(s.message().rfind("write the blob: ", 0), 0u) << s.message();
}

TEST(AtomicFileTest, RenameDurablyReplacesOrLeavesTheTargetAndNoTemporary) {
  TempDir tmp("atomic-file");
  const std::string dir = tmp.path();
  UniqueFd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(d.valid());
  std::ofstream(dir + "/rec") << "old";
  std::ofstream(dir + "/rec.tmp") << "new";
  ASSERT_TRUE(RenameDurably(d.get(), dir, "rec.tmp", "rec").ok());
  EXPECT_EQ(ReadTestFile(dir + "/rec"), "new");
  EXPECT_EQ(DirNames(dir), std::vector<std::string>{"rec"});
  // Renaming a file over a non-empty directory fails: the temporary goes, the target stays.
  ASSERT_EQ(::mkdir((dir + "/sub").c_str(), 0700), 0);
  std::ofstream(dir + "/sub/keep") << "k";
  std::ofstream(dir + "/x.tmp") << "x";
  Status s = RenameDurably(d.get(), dir, "x.tmp", "sub");
  EXPECT_EQ(s.code(), Status::Code::kIoError);
  EXPECT_NE(s.message().find("rename " + dir + "/x.tmp -> " + dir + "/sub"), std::string::npos)
      << s.message();
  EXPECT_EQ(::access((dir + "/x.tmp").c_str(), F_OK), -1);
  EXPECT_EQ(ReadTestFile(dir + "/sub/keep"), "k");
}

TEST(AtomicFileTest, ReplaceFileAtPathKeepsTheModeAndLeavesOnlyTheTarget) {
  TempDir tmp("atomic-file");
  const std::string dir = tmp.path(), out = dir + "/out";
  ASSERT_TRUE(ReplaceFileAtPath(out, "first", 0640, /*keep_mode=*/true, out).ok());
  EXPECT_EQ(ReadTestFile(out), "first");
  struct stat st;
  ASSERT_EQ(::stat(out.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  ASSERT_TRUE(ReplaceFileAtPath(out, "second", 0640, /*keep_mode=*/true, out).ok());
  EXPECT_EQ(ReadTestFile(out), "second");
  EXPECT_EQ(DirNames(dir), std::vector<std::string>{"out"});
  Status s = ReplaceFileAtPath(dir + "/no/such/out", "x", 0600, false, "the-output");
  EXPECT_EQ(s.code(), Status::Code::kIoError);
  EXPECT_NE(s.message().find("(for the-output)"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace khod
