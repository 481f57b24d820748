#include "daemon/request_limits.h"

#include <map>
#include <string>

#include "common/status_macros.h"

namespace khod {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// Full field name -> limit; proto/khod.proto says the same beside each field.
const std::map<std::string, size_t>& Limits() {
  static const auto* limits = new std::map<std::string, size_t>{
      {"khod.v1.AttachRequest.name", 255},
      {"khod.v1.AttachRequest.memslots", kMaxVmMemslots},
      {"khod.v1.AttachRequest.attributes", kMaxGmemAttributeRanges},
      {"khod.v1.UpdateAttributesRequest.ranges", kMaxGmemAttributeRanges},
      {"khod.v1.FreezeRequest.dir", 4095},
      {"khod.v1.FreezeRequest.reexec_binary", 4095},
      {"khod.v1.RestoreRequest.rebuild_into", kMaxAttachedGmems},
  };
  return *limits;
}

Status Check(const Message& m, const std::string& prefix) {
  const Reflection* r = m.GetReflection();
  std::vector<const FieldDescriptor*> set;
  r->ListFields(m, &set);
  for (const FieldDescriptor* f : set) {
    const std::string name = prefix + f->name();
    std::optional<size_t> limit = RequestFieldLimit(*f);
    if (f->is_repeated()) {
      const size_t n = static_cast<size_t>(r->FieldSize(m, f));
      if (!limit) return Status::InvalidArgument(name + ": a repeated field with no size limit");
      if (n > *limit)
        return Status::InvalidArgument(name + ": " + std::to_string(n) + " elements, at most " +
                                       std::to_string(*limit));
    } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
      if (!limit) return Status::InvalidArgument(name + ": a string with no size limit");
      std::string scratch;
      const size_t n = r->GetStringReference(m, f, &scratch).size();
      if (n > *limit)
        return Status::InvalidArgument(name + ": " + std::to_string(n) + " bytes, at most " +
                                       std::to_string(*limit));
    }
    if (f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (f->is_repeated()) {
      for (int i = 0; i < r->FieldSize(m, f); ++i)
        KHOD_RETURN_IF_ERROR(
            Check(r->GetRepeatedMessage(m, f, i), name + "[" + std::to_string(i) + "]."));
    } else {
      KHOD_RETURN_IF_ERROR(Check(r->GetMessage(m, f), name + "."));
    }
  }
  return Status::Ok();
}

}  // namespace

std::optional<size_t> RequestFieldLimit(const FieldDescriptor& field) {
  auto it = Limits().find(field.full_name());
  if (it == Limits().end()) return std::nullopt;
  return it->second;
}

Status CheckRequestLimits(const Message& request) {
  return Check(request, request.GetDescriptor()->name() + ".");
}

}  // namespace khod
