// Size limits on every string and repeated field of khod's requests
// (proto/khod.proto states each beside its field). A request past one is
// refused before any work with INVALID_ARGUMENT naming the field, so no
// caller can make khod hold, record or reply with more than these bounds
// (issue 11: one 3.9 MB name once made every client's Status fail).
#ifndef KHOD_DAEMON_REQUEST_LIMITS_H_
#define KHOD_DAEMON_REQUEST_LIMITS_H_

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <cstddef>
#include <optional>

#include "common/status.h"

namespace khod {

// Gmems one session may hold, and memslots one VM may have over all its
// gmems: together with the field limits they bound StatusReply and the
// session record well under gRPC's 4 MiB message limit.
constexpr size_t kMaxAttachedGmems = 1024;
constexpr size_t kMaxVmMemslots = 4096;
// Attribute ranges recorded for one gmem, over Attach and every UpdateAttributes.
constexpr size_t kMaxGmemAttributeRanges = 65536;
// The same over the whole session, and memslots over all its VMs: the limits
// above are per gmem and per VM, and 1024 gmems at each would hold 64 M
// ranges, which every declaration check and record write goes through.
constexpr size_t kMaxSessionAttributeRanges = 131072;
constexpr size_t kMaxSessionMemslots = 16384;
// The session record as a whole (bytes encoded), whatever its values: what
// each record write copies and fsyncs, and less than gRPC's 4 MiB message.
constexpr size_t kMaxSessionRecordBytes = size_t{3} << 20;

// The limit of a string (bytes) or repeated field (elements) of a request
// message; nullopt for a field that has none (any other kind of field).
std::optional<size_t> RequestFieldLimit(const google::protobuf::FieldDescriptor& field);

// Every string and repeated field of `request`, nested messages included,
// within its limit; otherwise INVALID_ARGUMENT naming the field
// ("AttachRequest.name: 4000000 bytes, at most 255").
Status CheckRequestLimits(const google::protobuf::Message& request);

}  // namespace khod

#endif  // KHOD_DAEMON_REQUEST_LIMITS_H_
