// libFuzzer target for KHO's incoming tree as khod reads it from debugfs
// after a kexec (handover/kho_debugfs.h). Each input is laid out as debugfs
// shows it: the whole input is <root>/kho/in/fdt (KHO's root FDT and, past
// its totalsize, bytes debugfs may show beyond it), and the bytes from its
// totalsize (rounded up to 8) on, when there are any, are
// in/sub_fdts/LUO and in/sub_fdts/khod, the sub-FDTs the root's nodes of
// those names point at. ReadKhoIncoming reads the tree (and Summary reports
// it), ReadKhoIncomingSubFdt reads khod's and LUO's sub-FDTs.
// Oracle: a refusal carries a message; an accepted tree is present, has a
// compatible of a KHO ABI khod knows, a size within the file and a summary;
// an accepted sub-FDT is a file that starts with the FDT magic, cut at its
// totalsize, whose header fdt_check_header accepts. A violation aborts.
#include <libfdt.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "fuzz/oracle.h"
#include "fuzz/scratch_dir.h"
#include "handover/kho_debugfs.h"

namespace khod {
namespace {

[[noreturn]] void Fail(const std::string& what, std::string_view detail = {}) {
  OracleFail("KHO incoming", what, detail);
}

// An FDT's totalsize: big-endian u32 at byte 4; 0 when the input is shorter.
uint64_t TotalSize(std::string_view b) {
  if (b.size() < 8) return 0;
  const auto* h = reinterpret_cast<const uint8_t*>(b.data());
  return uint64_t{h[4]} << 24 | uint64_t{h[5]} << 16 | uint64_t{h[6]} << 8 | h[7];
}

void CheckSubFdt(const std::string& root, const char* name, std::string_view file) {
  Result<std::string> sub = ReadKhoIncomingSubFdt(root, name);
  RequireMessage("KHO incoming", sub.status(), "ReadKhoIncomingSubFdt");
  if (!sub.ok()) return;
  if (file.substr(0, 4) != "\xd0\x0d\xfe\xed") Fail("a file without the FDT magic accepted", name);
  if (*sub != file.substr(0, TotalSize(file)))
    Fail("a sub-FDT is not its file cut at totalsize", name);
  if (sub->size() < sizeof(struct fdt_header) || fdt_check_header(sub->data()) != 0)
    Fail("a sub-FDT without a sound header accepted", name);
}

}  // namespace
}  // namespace khod

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::string root = khod::ScratchDir::Fresh("debugfs");
  const std::string in = root + "/kho/in";
  khod::ScratchDir::MakeDirs(in + "/sub_fdts");
  khod::ScratchDir::WriteFile(in + "/fdt", input);
  const uint64_t sub_at = (khod::TotalSize(input) + 7) / 8 * 8;
  const std::string_view sub = sub_at < size ? input.substr(sub_at) : std::string_view();
  if (!sub.empty()) {
    khod::ScratchDir::WriteFile(in + "/sub_fdts/LUO", sub);
    khod::ScratchDir::WriteFile(in + "/sub_fdts/khod", sub);
  }

  khod::Result<khod::KhoIncoming> tree = khod::ReadKhoIncoming(root);
  khod::RequireMessage("KHO incoming", tree.status(), "ReadKhoIncoming");
  if (tree.ok()) {
    if (!tree->present) khod::Fail("the tree in place was not seen");
    if (tree->compatible != "kho-v1" && tree->compatible != "kho-v2")
      khod::Fail("a KHO ABI khod does not know accepted", tree->compatible);
    if (tree->fdt_bytes > size) khod::Fail("a root FDT larger than its file accepted");
    for (const khod::KhoSubtree& t : tree->subtrees)
      if (t.exposed && t.problem.empty() && t.bytes > sub.size())
        khod::Fail("a sub-FDT larger than its file accepted", t.name);
    if (tree->Summary().empty()) khod::Fail("no summary");
  }
  khod::CheckSubFdt(root, "khod", sub);
  khod::CheckSubFdt(root, "LUO", sub);
  return 0;
}
