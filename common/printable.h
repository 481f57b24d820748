// Bytes someone else chose (a memfd's name, a file's /proc/self/fd link) made
// fit for a reply, a log line or a terminal: one home for escaping them.
#ifndef KHOD_COMMON_PRINTABLE_H_
#define KHOD_COMMON_PRINTABLE_H_

#include <string>
#include <string_view>

namespace khod {

// `s` with every byte outside printable ASCII (0x20-0x7e), and the backslash
// itself, as "\xNN" (two lowercase hex digits): "a\x1b[31m\n\\" becomes
// "a\\x1b[31m\\x0a\\x5c". The result is printable ASCII (so valid UTF-8, no
// newline, no terminal escape), and tells apart any two inputs.
std::string EscapeNonPrintable(std::string_view s);

}  // namespace khod

#endif  // KHOD_COMMON_PRINTABLE_H_
