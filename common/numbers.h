// Strict number parsing on std::from_chars, the one home for turning text
// into integers. Every parser takes the whole text and refuses anything else:
// an empty text, a space before or after, a sign on an unsigned number, a
// "+" anywhere, a suffix such as "3x", a value that does not fit. Leading
// zeros are digits like any other ("007" is 7).
//
// The Consume* forms read a number at the start of a longer text (a line of
// /proc) and advance past it; they need at least one digit and refuse
// overflow, and the caller checks what follows.
#ifndef KHOD_COMMON_NUMBERS_H_
#define KHOD_COMMON_NUMBERS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace khod {

// Decimal digits only.
std::optional<uint64_t> ParseU64(std::string_view text);
std::optional<uint32_t> ParseU32(std::string_view text);
// Decimal digits, with an optional leading '-'.
std::optional<int64_t> ParseI64(std::string_view text);
std::optional<int> ParseInt(std::string_view text);
// Hex digits (either case) only, no "0x".
std::optional<uint64_t> ParseHexU64(std::string_view text);
// "0x" or "0X" followed by hex digits.
std::optional<uint64_t> Parse0xHexU64(std::string_view text);
// "0x..." as hex, anything else as decimal.
std::optional<uint64_t> ParseU64DecimalOr0xHex(std::string_view text);
// Decimal digits whose value lies in [min, max].
std::optional<uint64_t> ParseU64InRange(std::string_view text, uint64_t min, uint64_t max);

// ParseU64InRange with a Status naming the text: "WHAT 'TEXT' is not a
// decimal number", "... is larger than MAX" or "... is smaller than MIN".
Result<uint64_t> ParseU64Named(std::string_view text, const std::string& what, uint64_t min = 0,
                               uint64_t max = UINT64_MAX);

// "1,2,4": comma-separated items, each as ParseU64Named takes it (an empty
// text or item included), the first one refused named as it names it.
Result<std::vector<uint64_t>> ParseU64ListNamed(std::string_view text, const std::string& what,
                                                uint64_t min = 0, uint64_t max = UINT64_MAX);

// The decimal (or hex) number at the start of `*text`, which is advanced past
// its digits; nullopt, leaving `*text` as it was, when it starts with no digit
// or the number does not fit.
std::optional<uint64_t> ConsumeU64(std::string_view* text);
std::optional<uint64_t> ConsumeHexU64(std::string_view* text);

}  // namespace khod

#endif  // KHOD_COMMON_NUMBERS_H_
