// Human byte sizes for the CLI and reports: "1T", "64G", "256M", "4k".
// Binary units (K = 1024), since guest memory is sized in pages.
#ifndef KHOD_SYNTH_SIZE_H_
#define KHOD_SYNTH_SIZE_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace khod {

// Parses "<digits>[K|M|G|T|P][iB|B]" (suffix case-insensitive, none = bytes).
// Rejects empty input, a missing number, unknown suffixes and overflow.
Result<uint64_t> ParseSize(std::string_view text);

// The shortest exact form: 1099511627776 -> "1T", 3145728 -> "3M", 1000 -> "1000".
std::string FormatSize(uint64_t bytes);

}  // namespace khod

#endif  // KHOD_SYNTH_SIZE_H_
