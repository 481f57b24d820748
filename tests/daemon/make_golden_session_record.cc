// Writes tests/daemon/golden/session_record_v1.rec from GoldenSessionRecord() with
// today's WriteRecordFile. Run when the record format changes version, or
// when GoldenSessionRecord() is corrected (its kinds were once misspelled);
// session_record_golden_test checks that today's writer writes the file byte
// for byte:
//   bazel-bin/tests/daemon/make_golden_session_record tests/daemon/golden
#include <cstdio>
#include <string>

#include "daemon/record_file.h"
#include "tests/daemon/golden_session_record.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_golden_session_record DIR\n");
    return 2;
  }
  std::string payload;
  if (!khod::GoldenSessionRecord().SerializeToString(&payload)) {
    std::fprintf(stderr, "cannot serialize the golden session record\n");
    return 2;
  }
  const std::string path = std::string(argv[1]) + "/" + khod::kGoldenSessionRecordName;
  khod::Status s = khod::WriteRecordFile(path, payload);
  if (!s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 2;
  }
  std::printf("%s: %zu bytes (payload %zu)\n", path.c_str(), payload.size() + 24, payload.size());
  return 0;
}
