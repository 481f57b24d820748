// The lines of a text khod reads whole (/proc/PID/maps, numa_maps, meminfo,
// status): one home for splitting them and for their "Key: value" fields.
#ifndef KHOD_COMMON_TEXT_LINES_H_
#define KHOD_COMMON_TEXT_LINES_H_

#include <algorithm>
#include <optional>
#include <string_view>

#include "common/status.h"
#include "common/status_macros.h"

namespace khod {

// Calls `fn(line)` (a Status) for each non-empty '\n'-separated line of
// `text`, the last one with or without its '\n', in order; stops at the
// first error `fn` returns and returns it.
template <typename Fn>
Status ForEachLine(std::string_view text, Fn fn) {
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (!line.empty()) KHOD_RETURN_IF_ERROR(fn(line));
  }
  return Status::Ok();
}

// For a "Key:   value" line of a /proc text (meminfo, status): the value,
// its leading blanks dropped, when `line` starts with `key` (colon included).
inline std::optional<std::string_view> FieldValue(std::string_view line, std::string_view key) {
  if (line.substr(0, key.size()) != key) return std::nullopt;
  line.remove_prefix(key.size());
  line.remove_prefix(std::min(line.find_first_not_of(" \t"), line.size()));
  return line;
}

}  // namespace khod

#endif  // KHOD_COMMON_TEXT_LINES_H_
