#include "common/status.h"

#include <cstring>

namespace khod {

const char* Status::CodeName(Code c) {
  switch (c) {
    case Code::kOk:
      return "OK";
    case Code::kInvalidArgument:
      return "Invalid argument";
    case Code::kCorruption:
      return "Corruption";
    case Code::kUnsupported:
      return "Unsupported";
    case Code::kNotFound:
      return "Not found";
    case Code::kFailedPrecondition:
      return "Failed precondition";
    case Code::kPermissionDenied:
      return "Permission denied";
    case Code::kBusy:
      return "Busy";
    case Code::kIoError:
      return "IO error";
    case Code::kResourceExhausted:
      return "Resource exhausted";
    case Code::kInternal:
      return "Internal";
  }
  return "Unknown";
}

Status Status::FromErrno(const std::string& what, int err) {
  return Status(Code::kIoError, what + ": " + std::strerror(err));
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  return std::string(CodeName(code_)) + ": " + message_;
}

Status Status::WithContext(const std::string& context) const {
  if (ok()) return *this;
  return Status(code_, context + ": " + message_);
}

}  // namespace khod
