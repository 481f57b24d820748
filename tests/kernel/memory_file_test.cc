// The names khod takes from the kernel for a memory file (readlink of
// /proc/self/fd/N, a memfd's name) are any bytes the file's creator chose:
// IdentifyMemoryFile and OwnFdLink give them printable, every byte outside
// 0x20-0x7e and the backslash as \xNN, and still tell the file's kind.
#include "kernel/memory_file.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <string>

namespace khod {
namespace {

// The creator's bytes: an escape sequence, a newline, a byte that is not
// UTF-8 and a backslash.
constexpr char kHostileName[] = "a\x1b[31m\n\xff\\";
constexpr char kEscapedName[] = "a\\x1b[31m\\x0a\\xff\\x5c";

bool AllPrintable(const std::string& s) {
  for (const char c : s)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) return false;
  return true;
}

class Memfd {
 public:
  explicit Memfd(const char* name) : fd_(::memfd_create(name, MFD_CLOEXEC)) {
    if (fd_ >= 0 && ::ftruncate(fd_, 1 << 16) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~Memfd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int fd() const { return fd_; }

 private:
  int fd_;
};

TEST(MemoryFileTest, AHostileMemfdNameIsEscapedAndStillAShmemMemfd) {
  Memfd m(kHostileName);
  ASSERT_GE(m.fd(), 0);
  Result<MemoryFileIdentity> id = IdentifyMemoryFile(m.fd());
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(id->kind, FileKind::kShmemMemfd);
  EXPECT_TRUE(AllPrintable(id->link)) << id->link;
  EXPECT_TRUE(AllPrintable(id->memfd_name)) << id->memfd_name;
  EXPECT_EQ(id->link, std::string("/memfd:") + kEscapedName + " (deleted)");
  EXPECT_EQ(id->memfd_name, kEscapedName);

  Result<std::string> link = OwnFdLink(m.fd());
  ASSERT_TRUE(link.ok()) << link.status().ToString();
  EXPECT_EQ(*link, id->link);
}

// A name made to look like an escape, or like the kernel's own suffix,
// stays told apart from one that is: the backslash is escaped too, and only
// the suffix the kernel adds is taken off.
TEST(MemoryFileTest, EscapingIsUnambiguousAndTheDeletedSuffixIsTheKernels) {
  Memfd looks_escaped("a\\x1b");
  ASSERT_GE(looks_escaped.fd(), 0);
  Result<MemoryFileIdentity> id = IdentifyMemoryFile(looks_escaped.fd());
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(id->memfd_name, "a\\x5cx1b");

  Memfd deleted_in_name("vm0 (deleted)");
  ASSERT_GE(deleted_in_name.fd(), 0);
  id = IdentifyMemoryFile(deleted_in_name.fd());
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(id->kind, FileKind::kShmemMemfd);
  EXPECT_EQ(id->memfd_name, "vm0 (deleted)");
}

// A refusal names the file by its escaped link too: it reaches replies and logs.
TEST(MemoryFileTest, ARefusalNamesTheFileEscaped) {
  Memfd m(kHostileName);
  ASSERT_GE(m.fd(), 0);
  const std::string self = "/proc/self/fd/" + std::to_string(m.fd());
  const int write_only = ::open(self.c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_GE(write_only, 0);
  Result<MemoryFileIdentity> id = IdentifyMemoryFile(write_only, "fd 5 of pid 77");
  ::close(write_only);
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_TRUE(AllPrintable(id.status().message())) << id.status().message();
  EXPECT_NE(id.status().message().find(std::string("fd 5 of pid 77 (/memfd:") + kEscapedName +
                                       " (deleted)) is open write-only"),
            std::string::npos)
      << id.status().message();
}

// A HugeTLB memfd's name, where the machine has huge pages to make one.
TEST(MemoryFileTest, AHostileHugetlbMemfdNameIsEscapedAndStillHugetlb) {
  const int fd = ::memfd_create(kHostileName, MFD_CLOEXEC | MFD_HUGETLB);
  if (fd < 0) GTEST_SKIP() << "no HugeTLB memfd here";
  Result<MemoryFileIdentity> id = IdentifyMemoryFile(fd);
  ::close(fd);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(id->kind, FileKind::kHugetlbMemfd);
  EXPECT_EQ(id->memfd_name, kEscapedName);
  EXPECT_TRUE(AllPrintable(id->link)) << id->link;
}

}  // namespace
}  // namespace khod
