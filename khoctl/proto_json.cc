#include "khoctl/proto_json.h"

#include <google/protobuf/util/json_util.h>

#include <cstdio>
#include <string>

#include "khoctl/commands.h"

namespace khod {

int PrintJson(const char* command, const google::protobuf::Message& m) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string json;
  const auto status = google::protobuf::util::MessageToJsonString(m, &json, options);
  if (!status.ok()) {
    std::fprintf(stderr, "khoctl %s: cannot write JSON: %s\n", command,
                 std::string(status.message()).c_str());
    return kExitError;
  }
  std::printf("%s\n", json.c_str());
  return kExitOk;
}

}  // namespace khod
