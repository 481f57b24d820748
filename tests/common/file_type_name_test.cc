// common/file_type_name: the one wording for a file's type in khod's messages, as
// the state-file reads and the reexec transport's blob check both say it.
#include "common/file_type_name.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

namespace khod {
namespace {

TEST(FileTypeNameTest, NamesEachType) {
  EXPECT_EQ(FileTypeName(S_IFREG | 0644), "a regular file");
  EXPECT_EQ(FileTypeName(S_IFDIR | 0755), "a directory");
  EXPECT_EQ(FileTypeName(S_IFIFO | 0600), "a FIFO or pipe");
  EXPECT_EQ(FileTypeName(S_IFSOCK | 0777), "a socket");
  EXPECT_EQ(FileTypeName(S_IFCHR | 0666), "a character device");
  EXPECT_EQ(FileTypeName(S_IFBLK | 0660), "a block device");
  EXPECT_EQ(FileTypeName(S_IFLNK | 0777), "a symbolic link");
  // No type bits a kernel uses: the bits themselves, in octal as stat(2) shows them.
  EXPECT_EQ(FileTypeName(0170000 | 0644), "a file of type 0170000");
}

TEST(FileTypeNameTest, APipeIsNamedAsAFifo) {
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  struct stat st;
  ASSERT_EQ(::fstat(p[0], &st), 0);
  EXPECT_EQ(FileTypeName(st.st_mode), "a FIFO or pipe");
  ::close(p[0]);
  ::close(p[1]);
}

}  // namespace
}  // namespace khod
