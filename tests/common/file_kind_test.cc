// common/file_kind: the one wording for a file's type in khod's messages, as
// the state-file reads and the reexec transport's blob check both say it.
#include "common/file_kind.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

namespace khod {
namespace {

TEST(FileKindTest, NamesEachType) {
  EXPECT_EQ(FileKind(S_IFREG | 0644), "a regular file");
  EXPECT_EQ(FileKind(S_IFDIR | 0755), "a directory");
  EXPECT_EQ(FileKind(S_IFIFO | 0600), "a FIFO or pipe");
  EXPECT_EQ(FileKind(S_IFSOCK | 0777), "a socket");
  EXPECT_EQ(FileKind(S_IFCHR | 0666), "a character device");
  EXPECT_EQ(FileKind(S_IFBLK | 0660), "a block device");
  EXPECT_EQ(FileKind(S_IFLNK | 0777), "a symbolic link");
  // No type bits a kernel uses: the bits themselves, in octal as stat(2) shows them.
  EXPECT_EQ(FileKind(0170000 | 0644), "a file of type 0170000");
}

TEST(FileKindTest, APipeIsNamedAsAFifo) {
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  struct stat st;
  ASSERT_EQ(::fstat(p[0], &st), 0);
  EXPECT_EQ(FileKind(st.st_mode), "a FIFO or pipe");
  ::close(p[0]);
  ::close(p[1]);
}

}  // namespace
}  // namespace khod
