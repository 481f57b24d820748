// khoctl/file_io: writes replace only the target, atomically, and never a
// device node, FIFO, directory or symlink; reads (common/file_read with
// khoctl's BlobFileRead options) are bounded and keep khoctl's error codes.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "khoctl/file_io.h"
#include "tests/support/fixture.h"

namespace khod {
namespace {

void Put(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary) << data;
}

class FileIoTest : public ::testing::Test {
 protected:
  std::string P(const std::string& name) const { return dir_ + "/" + name; }
  TempDir tmp_{"file-io-test"};
  const std::string dir_ = tmp_.path();
};

TEST_F(FileIoTest, ReplacesFileAndLeavesNoTemporary) {
  Put(P("out"), "old");
  ASSERT_TRUE(WriteWholeFile(P("out"), "new blob").ok());
  EXPECT_EQ(ReadTestFile(P("out")), "new blob");
  EXPECT_EQ(DirNames(dir_), std::vector<std::string>{"out"});
}

TEST_F(FileIoTest, SiblingNamedTmpIsNotClobbered) {
  Put(P("out.tmp"), "someone else's file");
  ASSERT_TRUE(WriteWholeFile(P("out"), "blob").ok());
  EXPECT_EQ(ReadTestFile(P("out.tmp")), "someone else's file");
  EXPECT_EQ(ReadTestFile(P("out")), "blob");
}

TEST_F(FileIoTest, FifoStaysFifoAndGetsTheBytes) {
  ASSERT_EQ(::mkfifo(P("fifo").c_str(), 0600), 0);
  std::string got;
  std::thread reader([&] { got = ReadTestFile(P("fifo")); });
  Status s = WriteWholeFile(P("fifo"), "through the pipe");
  reader.join();
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(got, "through the pipe");
  struct stat st;
  ASSERT_EQ(::lstat(P("fifo").c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode)) << "the FIFO was replaced by a regular file";
}

TEST_F(FileIoTest, SymlinkStaysLinkAndTargetIsReplaced) {
  Put(P("real"), "old");
  ASSERT_EQ(::symlink("real", P("link").c_str()), 0);
  ASSERT_TRUE(WriteWholeFile(P("link"), "new").ok());
  struct stat st;
  ASSERT_EQ(::lstat(P("link").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  EXPECT_EQ(ReadTestFile(P("real")), "new");
}

TEST_F(FileIoTest, KeepsModeOfReplacedFile) {
  Put(P("out"), "old");
  ASSERT_EQ(::chmod(P("out").c_str(), 0640), 0);
  ASSERT_TRUE(WriteWholeFile(P("out"), "new").ok());
  struct stat st;
  ASSERT_EQ(::stat(P("out").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
}

TEST_F(FileIoTest, DirectoryAndEmptyPathAreRefused) {
  ASSERT_EQ(::mkdir(P("d").c_str(), 0755), 0);
  Status s = WriteWholeFile(P("d"), "x");
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("is a directory"), std::string::npos) << s.message();
  EXPECT_TRUE(DirNames(P("d")).empty());
  Status e = WriteWholeFile("", "x");
  EXPECT_FALSE(e.ok());
  EXPECT_NE(e.message().find("empty"), std::string::npos) << e.message();
}

TEST_F(FileIoTest, MissingDirectoryNamesThePath) {
  Status s = WriteWholeFile(P("no/such/dir/out"), "x");
  EXPECT_EQ(s.code(), Status::Code::kIoError);
  EXPECT_NE(s.message().find(P("no/such/dir/out")), std::string::npos) << s.message();
}

TEST_F(FileIoTest, ReadRefusesDirectory) {
  auto r = ReadWholeFile(dir_, BlobFileRead());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(r.status().message(), dir_ + " is a directory, not a file");
}

// Past the bound is InvalidArgument, never Corruption: LoadSnapshotFile adds
// the path only to a Corruption, which a blob's own checks give.
TEST_F(FileIoTest, ReadIsBounded) {
  Put(P("big"), std::string(5000, 'x'));
  auto r = ReadWholeFile(P("big"), BlobFileRead(nullptr, 4096));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(r.status().message(),
            P("big") + ": larger than 4096 bytes, more than any snapshot blob holds");
  // An endless device is no file: refused before a byte is read.
  auto z = ReadWholeFile("/dev/zero", BlobFileRead(nullptr, 1 << 20));
  ASSERT_FALSE(z.ok());
  EXPECT_EQ(z.status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(z.status().message(), "/dev/zero is a character device, not a regular file");
}

// khoctl keeps open's error for an absent file (inspect prints "No such file").
TEST_F(FileIoTest, ReadOfAMissingFileIsOpensIoError) {
  auto r = ReadWholeFile(P("absent"), BlobFileRead());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kIoError);
  EXPECT_EQ(r.status().message(), "open " + P("absent") + ": No such file or directory");
}

TEST_F(FileIoTest, HeadCheckStopsEarlyAndSeesShortFiles) {
  int calls = 0;
  auto refuse = [&](std::string_view head) {
    ++calls;
    EXPECT_GE(head.size(), kFileHeadBytes);
    return Status::Corruption("not a blob");
  };
  Put(P("zeros"), std::string(1 << 20, '\0'));
  auto z = ReadWholeFile(P("zeros"), BlobFileRead(refuse));
  EXPECT_EQ(z.status().code(), Status::Code::kCorruption);
  EXPECT_EQ(calls, 1);
  Put(P("short"), "abc");
  size_t seen = 99;
  auto r = ReadWholeFile(P("short"), BlobFileRead([&](std::string_view head) {
                           seen = head.size();
                           return Status::Ok();
                         }));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(seen, 3u);
  EXPECT_EQ(*r, "abc");
}

}  // namespace
}  // namespace khod
