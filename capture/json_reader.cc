#include "capture/json_reader.h"

#include <cerrno>
#include <cstdlib>

#include "common/status_macros.h"

namespace khod {

class JsonParser {
 public:
  explicit JsonParser(std::string_view t) : t_(t) {}

  Status ParseDocument(JsonValue* out) {
    KHOD_RETURN_IF_ERROR(ParseValue(out, 0));
    SkipSpace();
    if (pos_ != t_.size()) return Error("trailing characters");
    return Status::Ok();
  }

 private:
  static constexpr int kMaxDepth = 64;

  Status Error(const std::string& what) const {
    return Status::InvalidArgument("json: " + what + " at offset " + std::to_string(pos_));
  }
  void SkipSpace() {
    while (pos_ < t_.size() && (t_[pos_] == ' ' || t_[pos_] == '\n' || t_[pos_] == '\t' || t_[pos_] == '\r'))
      ++pos_;
  }
  bool Consume(std::string_view word) {
    if (t_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  Status ParseValue(JsonValue* v, int depth) {
    if (depth > kMaxDepth) return Error("nesting too deep");
    SkipSpace();
    if (pos_ >= t_.size()) return Error("unexpected end");
    const char c = t_[pos_];
    if (c == '{') return ParseObject(v, depth);
    if (c == '[') return ParseArray(v, depth);
    if (c == '"') {
      v->type_ = JsonValue::Type::kString;
      return ParseString(&v->string_);
    }
    if (Consume("true")) { v->type_ = JsonValue::Type::kBool; v->bool_ = true; return Status::Ok(); }
    if (Consume("false")) { v->type_ = JsonValue::Type::kBool; return Status::Ok(); }
    if (Consume("null")) return Status::Ok();
    if (c == '-' || (c >= '0' && c <= '9')) return ParseNumber(v);
    return Error(std::string("unexpected character '") + c + "'");
  }

  Status ParseObject(JsonValue* v, int depth) {
    v->type_ = JsonValue::Type::kObject;
    ++pos_;
    SkipSpace();
    if (pos_ < t_.size() && t_[pos_] == '}') { ++pos_; return Status::Ok(); }
    while (true) {
      SkipSpace();
      if (pos_ >= t_.size() || t_[pos_] != '"') return Error("expected a key");
      std::string key;
      KHOD_RETURN_IF_ERROR(ParseString(&key));
      SkipSpace();
      if (pos_ >= t_.size() || t_[pos_] != ':') return Error("expected ':'");
      ++pos_;
      JsonValue member;
      KHOD_RETURN_IF_ERROR(ParseValue(&member, depth + 1));
      v->members_.emplace_back(std::move(key), std::move(member));
      SkipSpace();
      if (pos_ < t_.size() && t_[pos_] == ',') { ++pos_; continue; }
      if (pos_ < t_.size() && t_[pos_] == '}') { ++pos_; return Status::Ok(); }
      return Error("expected ',' or '}'");
    }
  }

  Status ParseArray(JsonValue* v, int depth) {
    v->type_ = JsonValue::Type::kArray;
    ++pos_;
    SkipSpace();
    if (pos_ < t_.size() && t_[pos_] == ']') { ++pos_; return Status::Ok(); }
    while (true) {
      JsonValue item;
      KHOD_RETURN_IF_ERROR(ParseValue(&item, depth + 1));
      v->array_.push_back(std::move(item));
      SkipSpace();
      if (pos_ < t_.size() && t_[pos_] == ',') { ++pos_; continue; }
      if (pos_ < t_.size() && t_[pos_] == ']') { ++pos_; return Status::Ok(); }
      return Error("expected ',' or ']'");
    }
  }

  Status ParseString(std::string* out) {
    ++pos_;  // opening quote
    while (pos_ < t_.size()) {
      const char c = t_[pos_++];
      if (c == '"') return Status::Ok();
      if (c != '\\') { out->push_back(c); continue; }
      if (pos_ >= t_.size()) break;
      const char e = t_[pos_++];
      switch (e) {
        case '"': case '\\': case '/': out->push_back(e); break;
        case 'n': out->push_back('\n'); break;
        case 't': out->push_back('\t'); break;
        case 'r': out->push_back('\r'); break;
        case 'b': out->push_back('\b'); break;
        case 'f': out->push_back('\f'); break;
        case 'u': {
          if (pos_ + 4 > t_.size()) return Error("short \\u escape");
          const unsigned long cp = std::strtoul(std::string(t_.substr(pos_, 4)).c_str(), nullptr, 16);
          pos_ += 4;
          if (cp < 0x80) out->push_back(static_cast<char>(cp));
          else out->push_back('?');  // names here are ASCII; keep parsing
          break;
        }
        default: return Error("bad escape");
      }
    }
    return Error("unterminated string");
  }

  Status ParseNumber(JsonValue* v) {
    const size_t start = pos_;
    if (t_[pos_] == '-') ++pos_;
    bool integral = true;
    while (pos_ < t_.size()) {
      const char c = t_[pos_];
      if (c >= '0' && c <= '9') { ++pos_; continue; }
      if (c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-') { integral = false; ++pos_; continue; }
      break;
    }
    v->type_ = JsonValue::Type::kNumber;
    v->string_ = std::string(t_.substr(start, pos_ - start));
    v->negative_ = v->string_[0] == '-';
    if (integral) {
      errno = 0;
      const char* digits = v->string_.c_str() + (v->negative_ ? 1 : 0);
      char* end = nullptr;
      v->magnitude_ = std::strtoull(digits, &end, 10);
      if (errno == ERANGE || end == digits) return Error("integer out of range");
      v->integral_ = true;
    }
    return Status::Ok();
  }

  std::string_view t_;
  size_t pos_ = 0;
};

Result<JsonValue> JsonValue::Parse(std::string_view text) {
  JsonValue v;
  JsonParser p(text);
  KHOD_RETURN_IF_ERROR(p.ParseDocument(&v));
  return v;
}

const JsonValue* JsonValue::Find(std::string_view key) const {
  for (const auto& [k, v] : members_)
    if (k == key) return &v;
  return nullptr;
}

Result<uint64_t> JsonValue::AsU64(const std::string& what) const {
  if (type_ == Type::kNumber && integral_ && !negative_) return magnitude_;
  if (type_ == Type::kString && !string_.empty()) {
    errno = 0;
    char* end = nullptr;
    const uint64_t v = std::strtoull(string_.c_str(), &end, 0);  // "0x.." or decimal
    if (errno == 0 && *end == 0 && string_[0] != '-') return v;
  }
  return Status::InvalidArgument(what + ": expected a non-negative integer");
}

Result<int64_t> JsonValue::AsI64(const std::string& what) const {
  if (type_ == Type::kNumber && integral_ && magnitude_ == 0) return int64_t{0};
  if (type_ == Type::kNumber && integral_ && magnitude_ <= (1ull << 63) - (negative_ ? 0 : 1))
    return negative_ ? -static_cast<int64_t>(magnitude_ - 1) - 1 : static_cast<int64_t>(magnitude_);
  auto u = AsU64(what);
  if (u.ok() && *u < (1ull << 63)) return static_cast<int64_t>(*u);
  return Status::InvalidArgument(what + ": expected an integer");
}

Result<uint64_t> JsonValue::U64Member(std::string_view key, const std::string& where,
                                      std::optional<uint64_t> fallback) const {
  const JsonValue* m = Find(key);
  if (!m) {
    if (fallback) return *fallback;
    return Status::InvalidArgument(where + ": missing \"" + std::string(key) + "\"");
  }
  return m->AsU64(where + "." + std::string(key));
}

}  // namespace khod
