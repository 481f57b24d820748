// A small JSON reader for the files a VMM hands khod (memslots, attributes)
// and for the fixture's one-line report. Integers are kept exactly as 64-bit
// values; a string "0x..." is also accepted wherever a number is expected,
// since JSON readers in other languages lose 64-bit precision.
#ifndef KHOD_CAPTURE_JSON_READER_H_
#define KHOD_CAPTURE_JSON_READER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace khod {

class JsonValue {
 public:
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };

  static Result<JsonValue> Parse(std::string_view text);

  Type type() const { return type_; }
  bool is_object() const { return type_ == Type::kObject; }
  bool is_array() const { return type_ == Type::kArray; }
  const std::string& string() const { return string_; }
  bool boolean() const { return bool_; }
  const std::vector<JsonValue>& array() const { return array_; }
  const std::vector<std::pair<std::string, JsonValue>>& members() const { return members_; }
  // Member `key` of an object, or nullptr.
  const JsonValue* Find(std::string_view key) const;

  // A non-negative integer (number, or "0x.."/decimal string); `what` names
  // it in the error.
  Result<uint64_t> AsU64(const std::string& what) const;
  Result<int64_t> AsI64(const std::string& what) const;
  // Member `key` as uint64; `fallback` when absent.
  Result<uint64_t> U64Member(std::string_view key, const std::string& where,
                             std::optional<uint64_t> fallback = std::nullopt) const;

 private:
  friend class JsonParser;
  Type type_ = Type::kNull;
  bool bool_ = false;
  bool negative_ = false;
  bool integral_ = false;
  uint64_t magnitude_ = 0;  // |value| when integral_
  std::string string_;      // string value, or the number's text
  std::vector<JsonValue> array_;
  std::vector<std::pair<std::string, JsonValue>> members_;
};

}  // namespace khod

#endif  // KHOD_CAPTURE_JSON_READER_H_
