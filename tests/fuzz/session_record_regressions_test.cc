// The session records session_record_fuzzer (fuzz/) found: each, its bytes
// 24.. re-framed by WriteRecordFile as the fuzzer re-framed them, must now be
// refused by Session::Open with a Status naming the problem, leaving the
// record and khod.lock beside it as they were. Apart from
// fuzz_regressions_test because it needs //daemon (scripts/test.sh's ASan
// pass leaves such tests out).
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "daemon/record_file.h"
#include "daemon/session.h"
#include "fuzz/model_only_opener.h"
#include "tests/support/fixture.h"

namespace khod {
namespace {

std::string ReadRegression(const std::string& name) {
  return ReadTestFile("tests/fuzz/regressions/" + name);
}

struct RecordRegression {
  const char* file;              // a session record file; its bytes 24.. are the payload
  const char* expected_message;  // part of the refusal
};

class SessionRecordRegression : public ::testing::TestWithParam<RecordRegression> {};

TEST_P(SessionRecordRegression, RefusedAtOpenAndLeftAsItWas) {
  const RecordRegression& r = GetParam();
  const std::string input = ReadRegression(r.file);
  ASSERT_GE(input.size(), 24u) << r.file;
  const TempDir dir("fuzz-record");
  const std::string record = dir.Join("session.rec");
  // As session_record_fuzzer does: the payload under a frame of the real writer's, and
  // khod's instance lock beside it.
  ASSERT_TRUE(WriteRecordFile(record, input.substr(24)).ok());
  const std::string before = ReadTestFile(record);
  const std::string lock = dir.Join("khod.lock");
  std::ofstream(lock) << "pid 1\n";
  SessionOptions o;
  o.state_dir = dir.path();
  o.debugfs_root = dir.Join("no-debugfs");
  ModelOnlyOpener opener;
  Result<std::unique_ptr<Session>> s = Session::Open(o, &opener);
  const Status st = s.ok() ? Status::Internal("opened: " + (*s)->recovery()) : s.status();
  if (s.ok()) s.value().reset();
  EXPECT_EQ(st.code(), Status::Code::kCorruption) << st.ToString();
  EXPECT_NE(st.message().find(r.expected_message), std::string::npos) << st.ToString();
  EXPECT_EQ(ReadTestFile(record), before) << "the refused record was changed";
  EXPECT_EQ(ReadTestFile(lock), "pid 1\n") << "khod.lock was removed";
}

INSTANTIATE_TEST_SUITE_P(
    Found, SessionRecordRegression,
    ::testing::Values(
        // A VM with a memslot and no gmem token for it: recovery indexed the
        // tokens by the memslots' count (protobuf CHECK, abort) once a gmem was dropped.
        RecordRegression{"session_record_memslot_without_gmem.rec",
                         "VM 1 has 1 memslots but 0 memslot gmem tokens"},
        // A PREPARED record naming khod.lock as its prepared blob: the rollback of its
        // MODEL guest deleted the instance lock (and Cancel would have: any file it names).
        RecordRegression{"session_record_blob_names_lock.rec",
                         "prepared_blob 'khod.lock' is not a name khod gives a blob"}));

}  // namespace
}  // namespace khod
