// WriteFileBeforeItsRecord: a blob written under its final name, fsync'd,
// with no temporary file left; a leftover of a crash under the same name is
// replaced whole; a failure names the path and leaves no partial file.
#include "daemon/record_file.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "common/file_read.h"
#include "tests/support/fixture.h"

namespace khod {
namespace {

TEST(RecordFileTest, BlobIsWrittenUnderItsOwnNameWithNothingElseLeft) {
  const TempDir tmp("record-file");
  const std::string dir = tmp.path();
  ASSERT_TRUE(WriteFileBeforeItsRecord(dir + "/frozen-4.blob", "the blob").ok());
  Result<std::string> back = ReadWholeFile(dir + "/frozen-4.blob");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, "the blob");
  EXPECT_EQ(DirNames(dir), std::vector<std::string>{"frozen-4.blob"});
}

TEST(RecordFileTest, ALongerLeftoverUnderTheSameNameIsReplacedWhole) {
  const TempDir tmp("record-file");
  const std::string dir = tmp.path();
  ASSERT_TRUE(WriteFileBeforeItsRecord(dir + "/frozen-4.blob", std::string(10000, 'x')).ok());
  ASSERT_TRUE(WriteFileBeforeItsRecord(dir + "/frozen-4.blob", "short").ok());
  Result<std::string> back = ReadWholeFile(dir + "/frozen-4.blob");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, "short");
}

// Bytes read() returned to this process so far (/proc/self/io rchar).
uint64_t BytesRead() {
  Result<std::string> io = ReadWholeFile("/proc/self/io");
  if (!io.ok()) return 0;
  const size_t at = io->find("rchar: ");
  return at == std::string::npos ? 0 : std::strtoull(io->c_str() + at + 7, nullptr, 10);
}

// A file that is not a record, whatever its length field says, is refused
// after its head: a 64 MiB one is not read in full.
TEST(RecordFileTest, AFileThatIsNotARecordIsReadNoFurtherThanItsHead) {
  const TempDir tmp("record-file");
  const std::string path = tmp.path() + "/session.rec";
  constexpr uint64_t kSize = 64 << 20;
  std::string head = "GARBAGE!";
  for (int i = 0; i < 8; ++i) head.push_back(static_cast<char>((kSize - 24) >> (8 * i)));
  head.append(8, '\0');
  ASSERT_TRUE(WriteFileBeforeItsRecord(path, head).ok());
  ASSERT_EQ(::truncate(path.c_str(), kSize), 0);
  const uint64_t before = BytesRead();
  Result<std::string> r = ReadRecordFile(path);
  const uint64_t read = BytesRead() - before;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kCorruption) << r.status().ToString();
  EXPECT_LT(read, uint64_t{1} << 20) << "read " << read << " bytes of a file that is no record";
}

TEST(RecordFileTest, AMissingDirectoryIsNamedInTheError) {
  const TempDir tmp("record-file");
  const std::string path = tmp.path() + "/no-such-dir/frozen-4.blob";
  Status s = WriteFileBeforeItsRecord(path, "the blob");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find(path), std::string::npos) << s.ToString();
}

}  // namespace
}  // namespace khod
