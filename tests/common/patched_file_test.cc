// PatchedFile: created whole, then patched: only the pages that differ are
// written, the file holds exactly the new bytes whatever their length, and a
// leftover or a symlink where it is created is replaced, never followed.
#include "common/patched_file.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "tests/support/fixture.h"

namespace khod {
namespace {

constexpr size_t kPage = PatchedFile::kPageBytes;

std::string Pages(size_t n, char fill) { return std::string(n * kPage, fill); }

class PatchedFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<SafeDir> d = SafeDir::Open(tmp_.path());
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    dir_ = *d;
  }
  TempDir tmp_{"patched"};
  SafeDir dir_;
};

TEST_F(PatchedFileTest, WritesOnlyThePagesThatDiffer) {
  const std::string draft = Pages(64, 'a');
  Result<PatchedFile> f = PatchedFile::Create(dir_, "draft.blob", draft);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(ReadTestFile(dir_.PathOf("draft.blob")), draft);
  std::string next = draft;
  next[5] = 'b';               // page 0
  next[10 * kPage + 7] = 'c';  // page 10
  next[11 * kPage] = 'c';      // page 11: one write with page 10
  Result<uint64_t> written = f->Patch(next);
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  EXPECT_EQ(*written, 3u);
  EXPECT_EQ(ReadTestFile(dir_.PathOf("draft.blob")), next);
}

TEST_F(PatchedFileTest, HoldsExactlyTheNewBytesLongerOrShorter) {
  const std::string draft = Pages(8, 'a') + "tail";
  {
    Result<PatchedFile> f = PatchedFile::Create(dir_, "x.blob", draft);
    ASSERT_TRUE(f.ok());
    const std::string longer = draft + Pages(3, 'z');
    Result<uint64_t> w = f->Patch(longer);
    ASSERT_TRUE(w.ok());
    EXPECT_EQ(*w, 4u);  // the page the old end was inside, and three new ones
    EXPECT_EQ(ReadTestFile(dir_.PathOf("x.blob")), longer);
  }
  {
    Result<PatchedFile> f = PatchedFile::Create(dir_, "y.blob", draft);
    ASSERT_TRUE(f.ok());
    const std::string shorter = draft.substr(0, 5 * kPage + 100);
    Result<uint64_t> w = f->Patch(shorter);
    ASSERT_TRUE(w.ok());
    EXPECT_EQ(*w, 0u);  // every byte it keeps is already there: only truncated
    EXPECT_EQ(ReadTestFile(dir_.PathOf("y.blob")), shorter);
  }
}

TEST_F(PatchedFileTest, OnlyTheFirstPatchCompares) {
  Result<PatchedFile> f = PatchedFile::Create(dir_, "d.blob", Pages(4, 'a'));
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(f->Patch(Pages(4, 'a')).ok());
  Result<uint64_t> again = f->Patch(Pages(4, 'a'));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 4u);  // what the file holds was not kept: written whole
  EXPECT_EQ(ReadTestFile(dir_.PathOf("d.blob")), Pages(4, 'a'));
}

TEST_F(PatchedFileTest, ASymlinkWhereItIsCreatedIsReplacedNotFollowed) {
  const std::string victim = tmp_.path() + "/victim";
  { std::ofstream(victim) << "precious"; }
  ASSERT_EQ(::symlink(victim.c_str(), dir_.PathOf("link.blob").c_str()), 0);
  Result<PatchedFile> f = PatchedFile::Create(dir_, "link.blob", Pages(1, 'a'));
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(ReadTestFile(victim), "precious");
  struct stat st;
  ASSERT_EQ(::lstat(dir_.PathOf("link.blob").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_FALSE(PatchedFile::Create(dir_, "../escape.blob", "x").ok());
}

TEST_F(PatchedFileTest, AFileSwappedInItsPlaceIsRefusedNotWritten) {
  Result<PatchedFile> f = PatchedFile::Create(dir_, "d.blob", Pages(2, 'a'));
  ASSERT_TRUE(f.ok());
  const std::string path = dir_.PathOf("d.blob");
  ASSERT_EQ(::unlink(path.c_str()), 0);
  { std::ofstream(path) << "someone else's"; }
  Result<uint64_t> w = f->Patch(Pages(2, 'b'));
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().code(), Status::Code::kFailedPrecondition) << w.status().ToString();
  EXPECT_EQ(ReadTestFile(path), "someone else's");
  // A symlink there is not followed either.
  ASSERT_EQ(::unlink(path.c_str()), 0);
  ASSERT_EQ(::symlink((tmp_.path() + "/elsewhere").c_str(), path.c_str()), 0);
  EXPECT_FALSE(f->Patch(Pages(2, 'b')).ok());
  EXPECT_NE(::access((tmp_.path() + "/elsewhere").c_str(), F_OK), 0);
}

TEST_F(PatchedFileTest, AFifoInItsPlaceIsNeverOpenedAndARenameOfAnotherFileIsRefused) {
  Result<PatchedFile> f = PatchedFile::Create(dir_, "d.blob", Pages(2, 'a'));
  ASSERT_TRUE(f.ok());
  const std::string path = dir_.PathOf("d.blob");
  ASSERT_EQ(::unlink(path.c_str()), 0);
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  Result<uint64_t> w = f->Patch(Pages(2, 'b'));  // would block in open(2) if opened by name
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().code(), Status::Code::kFailedPrecondition) << w.status().ToString();
  // Renamed while another file stands under its name: refused after the rename.
  ASSERT_EQ(::unlink(path.c_str()), 0);
  { std::ofstream(path) << "someone else's"; }
  const Status r = f->Rename("frozen-3.blob");
  EXPECT_EQ(r.code(), Status::Code::kFailedPrecondition) << r.ToString();
}

TEST_F(PatchedFileTest, NotHeldOpenForWritingBetweenCreateAndPatch) {
  Result<PatchedFile> f = PatchedFile::Create(dir_, "d.blob", Pages(1, 'a'));
  ASSERT_TRUE(f.ok());
  struct stat st;
  ASSERT_EQ(::stat(dir_.PathOf("d.blob").c_str(), &st), 0);
  // Only an O_PATH fd refers to it: a file open for writing would keep its
  // filesystem from a read-only remount (session_hostile_test remounts).
  int refs = 0;
  for (int fd = 0; fd < 1024; ++fd) {
    struct stat o;
    if (::fstat(fd, &o) != 0 || o.st_dev != st.st_dev || o.st_ino != st.st_ino) continue;
    ++refs;
    EXPECT_TRUE(::fcntl(fd, F_GETFL) & O_PATH) << "fd " << fd;
  }
  EXPECT_EQ(refs, 1);
}

TEST_F(PatchedFileTest, RenameMovesItWithinItsDirectory) {
  Result<PatchedFile> f = PatchedFile::Create(dir_, "draft.blob", Pages(2, 'a'));
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(f->Rename("frozen-7.blob").ok());
  EXPECT_EQ(f->name(), "frozen-7.blob");
  ASSERT_TRUE(f->Patch(Pages(2, 'b')).ok());  // the open file, under its new name
  EXPECT_EQ(ReadTestFile(dir_.PathOf("frozen-7.blob")), Pages(2, 'b'));
  EXPECT_NE(::access(dir_.PathOf("draft.blob").c_str(), F_OK), 0);
  EXPECT_FALSE(f->Rename("a/b").ok());
}

}  // namespace
}  // namespace khod
