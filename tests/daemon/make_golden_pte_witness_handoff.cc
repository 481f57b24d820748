// Writes tests/daemon/golden/pte_witness_handoff_v1.pb: one serialized
// khod.v1.PteWitnessHandoff (daemon/session_record.proto), the content of the
// witness memfd W a reexec hands to the next khod (docs/FORMAT.md "reexec"),
// which may be another build. Three files, spans of each shape: holes, a
// file whose every page is witnessed, and the span past the file's end that
// ends each file's list (count UINT64_MAX / 2, as capture/pte_witness.cc
// writes it). The files are in (dev, inode) order, as PteWitness::Describe
// lists them, so today's WriteWitnessHandoff writes the same bytes for what
// it reads. Run once when the message gains a field (never for a released
// one again), from the workspace root:
//   bazel build //tests/daemon:make_golden_pte_witness_handoff
//   bazel-bin/tests/daemon/make_golden_pte_witness_handoff tests/daemon/golden
// pte_witness_handoff_test reads it back field by field.
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <initializer_list>
#include <string>

#include "daemon/session_record.pb.h"

namespace {

constexpr char kName[] = "pte_witness_handoff_v1.pb";
constexpr uint64_t kPastTheEnd = UINT64_MAX / 2;

void AddFile(khod::v1::PteWitnessHandoff* h, uint64_t dev, uint64_t inode,
             std::initializer_list<uint64_t> spans) {
  khod::v1::PteWitnessFile* f = h->add_files();
  f->set_dev(dev);
  f->set_inode(inode);
  for (uint64_t x : spans) f->add_unwitnessed(x);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_golden_pte_witness_handoff DIR\n");
    return 2;
  }
  khod::v1::PteWitnessHandoff h;
  h.set_state('S');
  h.set_rss_file_kb(8216);
  h.set_context_switches(17);
  h.set_rss_shmem_kb(256);
  AddFile(&h, 0x803, 0x100000000ull, {262144, kPastTheEnd});  // every page witnessed
  AddFile(&h, 0xfd01, 42, {16, 48, 64, kPastTheEnd});
  AddFile(&h, 0xfd01, 4711, {0, 1, 5, 3, 512, kPastTheEnd});
  std::string bytes;
  if (!h.SerializeToString(&bytes)) {
    std::fprintf(stderr, "cannot serialize the golden PteWitnessHandoff\n");
    return 2;
  }
  const std::string path = std::string(argv[1]) + "/" + kName;
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!f) {
    std::fprintf(stderr, "write %s failed\n", path.c_str());
    return 2;
  }
  std::printf("%s: %zu bytes\n", path.c_str(), bytes.size());
  return 0;
}
