// libFuzzer target for the VMM declaration reader: the bytes of a --memslots
// file through ParseVmmDeclaration, and a parsed declaration through
// ValidateVmmDeclaration against two captured files (one 4 KiB-paged, one
// HugeTLB 2 MiB), so the overlap and bounds checks see hostile numbers too.
// A refusal must carry a message; anything else is left to the sanitizers.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

#include "capture/vmm_declaration.h"

namespace {

void RequireMessage(const khod::Status& st, const char* what) {
  if (st.ok() || !st.message().empty()) return;
  std::fprintf(stderr, "%s refused without a message: %s\n", what, st.ToString().c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::map<int, khod::CapturedFileFacts> kFiles = {{7, {8 << 20, 4096}},
                                                                {8, {8 << 20, 2 << 20}}};
  khod::VmmDeclaration decl;
  const khod::Status parsed =
      khod::ParseVmmDeclaration(std::string(reinterpret_cast<const char*>(data), size), &decl);
  RequireMessage(parsed, "ParseVmmDeclaration");
  if (parsed.ok()) RequireMessage(khod::ValidateVmmDeclaration(decl, kFiles, 4096), "Validate");
  return 0;
}
