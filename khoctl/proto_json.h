// --json of the khoctl commands that print khod's replies: the reply message
// itself in protobuf's canonical JSON mapping (MessageToJsonString: field
// names as in proto/khod.proto, enums by name, 64-bit numbers as strings,
// fields at their default value included), one object on one line.
#ifndef KHOD_KHOCTL_PROTO_JSON_H_
#define KHOD_KHOCTL_PROTO_JSON_H_

#include <google/protobuf/message.h>

namespace khod {

// Prints `m` as JSON and a newline on stdout; returns the exit code (0, or
// 2 with the reason on stderr when protobuf cannot convert it).
int PrintJson(const char* command, const google::protobuf::Message& m);

}  // namespace khod

#endif  // KHOD_KHOCTL_PROTO_JSON_H_
