// common/file_read: one bounded whole-file reader; each option changes the
// code (and only the code or the path's label) its callers rely on.
#include "common/file_read.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "tests/support/fixture.h"

namespace khod {
namespace {

// This test's files, removed at exit.
const std::string& Dir() {
  static const TempDir dir("file-read-test");
  return dir.path();
}

void Put(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary) << data;
}

TEST(FileReadTest, ReadsRegularAndProcFilesWhole) {
  const std::string p = Dir() + "/whole";
  Put(p, std::string(200000, 'q'));  // more than one read's buffer
  Result<std::string> r = ReadWholeFile(p);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, std::string(200000, 'q'));
  // /proc files say size 0: read to the end all the same.
  Result<std::string> boot = ReadWholeFile("/proc/sys/kernel/random/boot_id");
  ASSERT_TRUE(boot.ok()) << boot.status().ToString();
  EXPECT_EQ(boot->size(), 37u);  // a UUID and its newline
}

TEST(FileReadTest, KhodDefaultsAbsentIsNotFoundTooLargeIsCorruption) {
  const std::string absent = Dir() + "/absent";
  Result<std::string> r = ReadWholeFile(absent);
  EXPECT_EQ(r.status().code(), Status::Code::kNotFound);
  EXPECT_EQ(r.status().message(), absent + ": no such file");
  const std::string big = Dir() + "/big";
  Put(big, std::string(5000, 'x'));
  FileReadOptions o;
  o.max_bytes = 4096;
  Result<std::string> b = ReadWholeFile(big, o);  // refused from its size, before reading
  EXPECT_EQ(b.status().code(), Status::Code::kCorruption);
  EXPECT_EQ(b.status().message(), big + ": larger than 4096 bytes, not a khod file");
  Result<std::string> z = ReadWholeFile("/dev/zero", o);  // no file at all: refused unread
  EXPECT_EQ(z.status().code(), Status::Code::kCorruption);
  EXPECT_EQ(z.status().message(), "/dev/zero is a character device, not a regular file");
}

TEST(FileReadTest, OperatorOptionsAbsentIsOpensErrorTooLargeIsInvalidArgument) {
  FileReadOptions o;
  o.max_bytes = 4096;
  o.missing_is_not_found = false;
  o.too_large_is_corruption = false;
  o.too_large_why = "";
  const std::string absent = Dir() + "/absent2";
  Result<std::string> r = ReadWholeFile(absent, o);
  EXPECT_EQ(r.status().code(), Status::Code::kIoError);
  EXPECT_EQ(r.status().message(), "open " + absent + ": No such file or directory");
  Result<std::string> z = ReadWholeFile("/dev/zero", o);
  EXPECT_EQ(z.status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(z.status().message(), "/dev/zero is a character device, not a regular file");
}

TEST(FileReadTest, DirectoryIsRefusedAndTheLabelNamesTheFile) {
  FileReadOptions o;
  o.label = "declaration file ";
  Result<std::string> d = ReadWholeFile(Dir(), o);
  EXPECT_EQ(d.status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(d.status().message(), "declaration file " + Dir() + " is a directory, not a file");
  Result<std::string> r = ReadWholeFile(Dir() + "/absent3", o);
  EXPECT_EQ(r.status().message(), "declaration file " + Dir() + "/absent3: no such file");
}

TEST(FileReadTest, HeadCheckRefusesBeforeTheRestIsRead) {
  FileReadOptions o;
  size_t seen = 0;
  o.check_head = [&](std::string_view head) {
    seen = head.size();
    return Status::Unsupported("not wanted");
  };
  const std::string p = Dir() + "/unwanted";
  Put(p, std::string(1 << 20, '\0'));
  Result<std::string> z = ReadWholeFile(p, o);
  EXPECT_EQ(z.status().code(), Status::Code::kUnsupported);
  EXPECT_EQ(seen, kFileHeadBytes);
}

}  // namespace
}  // namespace khod
