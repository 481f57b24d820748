// Writes the current format's golden blobs (1.3: GoldenSnapshotV1_3()) into a
// directory. Run once when the format version changes (never for a released
// version again: 1.0's, 1.1's and 1.2's were written by their encoders):
//   bazel-bin/tests/serializer/make_golden tests/serializer/golden
#include <cstdio>
#include <fstream>
#include <string>

#include "serializer/serializer.h"
#include "tests/serializer/golden_snapshot.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_golden DIR\n");
    return 2;
  }
  const khod::Snapshot snap = khod::GoldenSnapshotV1_3();
  struct Out {
    khod::BlobFormat format;
    const char* name;
  };
  for (const Out& o : {Out{khod::BlobFormat::kFdt, khod::kGoldenV1_3FdtName},
                       Out{khod::BlobFormat::kProto, khod::kGoldenV1_3ProtoName}}) {
    std::string blob;
    khod::Status s = khod::Encode(snap, o.format, &blob);
    if (!s.ok()) {
      std::fprintf(stderr, "encode %s: %s\n", o.name, s.ToString().c_str());
      return 2;
    }
    const std::string path = std::string(argv[1]) + "/" + o.name;
    std::ofstream f(path, std::ios::binary);
    f.write(blob.data(), static_cast<std::streamsize>(blob.size()));
    if (!f) {
      std::fprintf(stderr, "write %s failed\n", path.c_str());
      return 2;
    }
    std::printf("%s: %zu bytes\n", path.c_str(), blob.size());
  }
  return 0;
}
