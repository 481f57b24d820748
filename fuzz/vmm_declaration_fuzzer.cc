// libFuzzer target for the VMM declaration reader: the bytes of a --memslots
// file through ParseVmmDeclaration (protobuf's JSON parser and the checks
// protobuf cannot make), and a parsed declaration through
// ValidateVmmDeclaration against two captured files (one 4 KiB-paged, one
// HugeTLB 2 MiB), so the overlap and bounds checks see hostile numbers too.
// A refusal must carry a message, and an accepted declaration written back as
// JSON must read back equal; anything else is left to the sanitizers.
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>

#include "capture/vmm_declaration.h"
#include "fuzz/oracle.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::map<int, khod::CapturedFileFacts> kFiles = {{7, {8 << 20, 4096}},
                                                                {8, {8 << 20, 2 << 20}}};
  khod::v1::VmmDeclaration decl;
  const khod::Status parsed =
      khod::ParseVmmDeclaration(std::string_view(reinterpret_cast<const char*>(data), size), &decl);
  khod::RequireMessage("VMM declaration", parsed, "ParseVmmDeclaration");
  if (!parsed.ok()) return 0;
  khod::RequireMessage("VMM declaration", khod::ValidateVmmDeclaration(decl, kFiles, 4096),
                       "Validate");
  // What was accepted, written back as JSON, reads back the same.
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(decl, &json).ok()) std::abort();
  khod::v1::VmmDeclaration again;
  const khod::Status reparsed = khod::ParseVmmDeclaration(json, &again);
  if (!reparsed.ok() || !google::protobuf::util::MessageDifferencer::Equals(decl, again)) {
    std::fprintf(stderr, "declaration does not read back: %s\n%s\n", reparsed.ToString().c_str(),
                 json.c_str());
    std::abort();
  }
  return 0;
}
