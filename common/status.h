// Status and Result<T>: every operation that can fail returns one (LevelDB style).
// A Status names what went wrong in its message; callers never see exceptions.
// Early returns: common/status_macros.h.
#ifndef KHOD_COMMON_STATUS_H_
#define KHOD_COMMON_STATUS_H_

#include <cassert>
#include <optional>
#include <string>
#include <utility>

namespace khod {

class Status {
 public:
  enum class Code {
    kOk = 0,
    kInvalidArgument,     // caller passed something malformed (bad request, bad flag)
    kCorruption,          // a blob failed a structural or checksum check
    kUnsupported,         // unknown format version, feature the kernel lacks
    kNotFound,            // no such fd, file, token
    kFailedPrecondition,  // wrong phase, wrong kind of file
    kPermissionDenied,
    kBusy,               // EAGAIN-like: retry once users are gone
    kIoError,            // a syscall failed; message carries errno text
    kResourceExhausted,  // a size limit was hit (gRPC RESOURCE_EXHAUSTED, e.g. a reply too large)
    kInternal,
  };

  Status() = default;
  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string m) {
    return Status(Code::kInvalidArgument, std::move(m));
  }
  static Status Corruption(std::string m) { return Status(Code::kCorruption, std::move(m)); }
  static Status Unsupported(std::string m) { return Status(Code::kUnsupported, std::move(m)); }
  static Status NotFound(std::string m) { return Status(Code::kNotFound, std::move(m)); }
  static Status FailedPrecondition(std::string m) {
    return Status(Code::kFailedPrecondition, std::move(m));
  }
  static Status PermissionDenied(std::string m) {
    return Status(Code::kPermissionDenied, std::move(m));
  }
  static Status Busy(std::string m) { return Status(Code::kBusy, std::move(m)); }
  static Status IoError(std::string m) { return Status(Code::kIoError, std::move(m)); }
  static Status ResourceExhausted(std::string m) {
    return Status(Code::kResourceExhausted, std::move(m));
  }
  // IoError from errno: "what: strerror(err)".
  static Status FromErrno(const std::string& what, int err);
  static Status Internal(std::string m) { return Status(Code::kInternal, std::move(m)); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // "Corruption: fdt: property 'folios' length 13 is not a multiple of 24".
  std::string ToString() const;
  // Same code, message prefixed with context: "gmem 3: " + message.
  Status WithContext(const std::string& context) const;

  static const char* CodeName(Code c);

 private:
  Status(Code c, std::string m) : code_(c), message_(std::move(m)) {}
  Code code_ = Code::kOk;
  std::string message_;
};

// A value or the Status saying why there is none.
template <typename T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) { assert(!status_.ok()); }  // NOLINT
  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  T& value() {
    assert(ok());
    return *value_;
  }
  const T& value() const {
    assert(ok());
    return *value_;
  }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace khod

#endif  // KHOD_COMMON_STATUS_H_
