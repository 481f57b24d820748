// Writes tests/handover/golden/luo_manifest_v1.khodluo: the LUO blob memfd's
// content (docs/FORMAT.md "luo") for the tokens and blob of
// golden_luo_manifest.h, with today's EncodeLuoManifest. Run once when the
// manifest's version changes (never for a released version again), from the
// workspace root, where it reads the blob from tests/serializer/golden/:
//   bazel build //tests/handover:make_luo_golden
//   bazel-bin/tests/handover/make_luo_golden tests/handover/golden
// handover_luo_test checks that today's encoder writes the file byte for byte.
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "handover/luo_transport.h"
#include "tests/handover/golden_luo_manifest.h"
#include "tests/support/golden_paths.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_luo_golden DIR\n");
    return 2;
  }
  const std::string blob_path =
      khod::GoldenPath(khod::kSnapshotGoldenDir, khod::kGoldenLuoBlobName);
  std::ifstream in(blob_path, std::ios::binary);
  std::stringstream blob;
  blob << in.rdbuf();
  if (!in || blob.str().empty()) {
    std::fprintf(stderr, "read %s failed (run from the workspace root)\n", blob_path.c_str());
    return 2;
  }
  khod::HandoverPackage pkg;
  pkg.blob = blob.str();
  for (uint64_t token : khod::kGoldenLuoTokens) pkg.fds.push_back({token, -1});
  const std::string bytes = khod::EncodeLuoManifest(pkg);
  const std::string path = std::string(argv[1]) + "/" + khod::kGoldenLuoManifestName;
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!f) {
    std::fprintf(stderr, "write %s failed\n", path.c_str());
    return 2;
  }
  std::printf("%s: %zu bytes (blob %zu)\n", path.c_str(), bytes.size(), pkg.blob.size());
  return 0;
}
