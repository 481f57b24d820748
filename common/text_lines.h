// The lines of a text khod reads whole (/proc/PID/maps, numa_maps): one
// home for splitting them.
#ifndef KHOD_COMMON_TEXT_LINES_H_
#define KHOD_COMMON_TEXT_LINES_H_

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

}  // namespace khod

#endif  // KHOD_COMMON_TEXT_LINES_H_
