#include "common/numbers.h"

#include <algorithm>
#include <charconv>
#include <system_error>
#include <type_traits>

#include "common/status_macros.h"

namespace khod {
namespace {

bool IsDigit(char c, int base) {
  if (c >= '0' && c <= '9') return true;
  return base == 16 && ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'));
}

// from_chars over the leading digits of `text`; `*used` is how many chars it
// read. A leading '-' is read only for signed T (from_chars' own rule).
template <typename T>
std::optional<T> Leading(std::string_view text, int base, size_t* used) {
  const size_t sign = std::is_signed<T>::value && !text.empty() && text[0] == '-' ? 1 : 0;
  if (text.size() <= sign || !IsDigit(text[sign], base)) return std::nullopt;
  T v{};
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v, base);
  if (ec != std::errc()) return std::nullopt;
  *used = static_cast<size_t>(end - text.data());
  return v;
}

template <typename T>
std::optional<T> Whole(std::string_view text, int base) {
  size_t used = 0;
  std::optional<T> v = Leading<T>(text, base, &used);
  if (!v || used != text.size()) return std::nullopt;
  return v;
}

bool Has0x(std::string_view text) {
  return text.size() >= 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X');
}

template <typename T>
std::optional<T> Consume(std::string_view* text, int base) {
  size_t used = 0;
  std::optional<T> v = Leading<T>(*text, base, &used);
  if (v) text->remove_prefix(used);
  return v;
}

}  // namespace

std::optional<uint64_t> ParseU64(std::string_view text) { return Whole<uint64_t>(text, 10); }
std::optional<uint32_t> ParseU32(std::string_view text) { return Whole<uint32_t>(text, 10); }
std::optional<int64_t> ParseI64(std::string_view text) { return Whole<int64_t>(text, 10); }
std::optional<int> ParseInt(std::string_view text) { return Whole<int>(text, 10); }
std::optional<uint64_t> ParseHexU64(std::string_view text) { return Whole<uint64_t>(text, 16); }

std::optional<uint64_t> Parse0xHexU64(std::string_view text) {
  if (!Has0x(text)) return std::nullopt;
  return ParseHexU64(text.substr(2));
}

std::optional<uint64_t> ParseU64DecimalOr0xHex(std::string_view text) {
  return Has0x(text) ? Parse0xHexU64(text) : ParseU64(text);
}

std::optional<uint64_t> ParseU64InRange(std::string_view text, uint64_t min, uint64_t max) {
  std::optional<uint64_t> v = ParseU64(text);
  if (!v || *v < min || *v > max) return std::nullopt;
  return v;
}

Result<uint64_t> ParseU64Named(std::string_view text, const std::string& what, uint64_t min,
                               uint64_t max) {
  const std::string shown = what + " '" + std::string(text) + "'";
  const bool digits_only =
      !text.empty() && text.find_first_not_of("0123456789") == std::string_view::npos;
  if (!digits_only) return Status::InvalidArgument(shown + " is not a decimal number");
  const std::optional<uint64_t> v = ParseU64(text);
  if (!v || *v > max)
    return Status::InvalidArgument(shown + " is larger than " + std::to_string(max));
  if (*v < min) return Status::InvalidArgument(shown + " is smaller than " + std::to_string(min));
  return *v;
}

Result<std::vector<uint64_t>> ParseU64ListNamed(std::string_view text, const std::string& what,
                                                uint64_t min, uint64_t max) {
  std::vector<uint64_t> values;
  for (size_t at = 0; at <= text.size();) {
    const size_t comma = std::min(text.find(',', at), text.size());
    KHOD_ASSIGN_OR_RETURN(uint64_t v, ParseU64Named(text.substr(at, comma - at), what, min, max));
    values.push_back(v);
    at = comma + 1;
  }
  return values;
}

std::optional<uint64_t> ConsumeU64(std::string_view* text) { return Consume<uint64_t>(text, 10); }
std::optional<uint64_t> ConsumeHexU64(std::string_view* text) {
  return Consume<uint64_t>(text, 16);
}

}  // namespace khod
