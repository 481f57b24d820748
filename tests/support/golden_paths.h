// Where the checked-in golden blobs of khod's released formats are: each set lives beside the
// test that checks it, and every test that reads one finds it through here.
#ifndef KHOD_TESTS_SUPPORT_GOLDEN_PATHS_H_
#define KHOD_TESTS_SUPPORT_GOLDEN_PATHS_H_

#include <cstdlib>
#include <string>
#include <string_view>

namespace khod {

// Directories from the workspace root, which is a test's working directory under Bazel.
// Snapshot blobs of every released format version (tests/serializer/make_golden).
inline constexpr char kSnapshotGoldenDir[] = "tests/serializer/golden";
// KHODREC1 session records (tests/daemon/make_golden_session_record) and the
// PteWitnessHandoff a reexec carries (tests/daemon/make_golden_pte_witness_handoff).
inline constexpr char kSessionRecordGoldenDir[] = "tests/daemon/golden";
// KHODLUO1 manifests of the LUO blob memfd (tests/handover/make_luo_golden).
inline constexpr char kLuoManifestGoldenDir[] = "tests/handover/golden";

// The path of golden blob `name` in `dir` (one of the directories above): beneath
// $TEST_SRCDIR when Bazel runs the test, else from the workspace root.
inline std::string GoldenPath(std::string_view dir, std::string_view name) {
  const std::string rel = std::string(dir) + "/" + std::string(name);
  const char* srcdir = std::getenv("TEST_SRCDIR");
  return srcdir != nullptr ? std::string(srcdir) + "/khod/" + rel : rel;
}

}  // namespace khod

#endif  // KHOD_TESTS_SUPPORT_GOLDEN_PATHS_H_
