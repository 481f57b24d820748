// A tiny streaming JSON writer (no dependency): keeps the comma and
// indentation bookkeeping so callers only say what goes where. 64-bit tokens
// and PFNs are written by callers as hex strings: JSON readers often keep
// numbers as doubles, which cannot hold them exactly.
// Only `khoctl inspect --json` uses it: the replies of khod go through
// protobuf's MessageToJsonString (khoctl/proto_json.h), but inspect prints a
// summary of a decoded snapshot, not a message, and protobuf's JSON mapping
// would quote every 64-bit count and size as a string, changing the types
// its readers parse.
#ifndef KHOD_KHOCTL_JSON_WRITER_H_
#define KHOD_KHOCTL_JSON_WRITER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace khod {

class JsonWriter {
 public:
  void BeginObject();
  void EndObject();
  void BeginArray();
  void EndArray();
  // Inside an object: the key of the next value.
  JsonWriter& Key(std::string_view key);
  void String(std::string_view s);
  void Uint(uint64_t v);
  void Int(int64_t v);
  void Bool(bool v);
  void Null();
  // "0x2a": for tokens, PFNs and flag words.
  void Hex(uint64_t v);

  // The document so far (complete once every Begin has its End).
  const std::string& str() const { return out_; }

 private:
  void BeforeValue();
  void Newline();
  std::string out_;
  struct Level {
    bool is_object;
    bool empty;
  };
  std::vector<Level> stack_;
  bool after_key_ = false;
};

// `s` quoted and escaped per RFC 8259.
std::string JsonQuote(std::string_view s);

}  // namespace khod

#endif  // KHOD_KHOCTL_JSON_WRITER_H_
