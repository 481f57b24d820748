// WriteFileBeforeItsRecord: a blob written under its final name, fsync'd,
// with no temporary file left; a leftover of a crash under the same name is
// replaced whole; a failure names the path and leaves no partial file.
#include "daemon/record_file.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

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

TEST(RecordFileTest, AMissingDirectoryIsNamedInTheError) {
  const TempDir tmp("record-file");
  const std::string path = tmp.path() + "/no-such-dir/frozen-4.blob";
  Status s = WriteFileBeforeItsRecord(path, "the blob");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find(path), std::string::npos) << s.ToString();
}

}  // namespace
}  // namespace khod
