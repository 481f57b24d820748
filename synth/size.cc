#include "synth/size.h"

#include <cctype>
#include <optional>

#include "common/numbers.h"

namespace khod {

namespace {

// Binary shift for one unit letter, or -1 when the letter is not a unit.
int UnitShift(char c) {
  switch (std::tolower(static_cast<unsigned char>(c))) {
    case 'k':
      return 10;
    case 'm':
      return 20;
    case 'g':
      return 30;
    case 't':
      return 40;
    case 'p':
      return 50;
    default:
      return -1;
  }
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

}  // namespace

Result<uint64_t> ParseSize(std::string_view text) {
  const std::string quoted = "'" + std::string(text) + "'";
  if (text.empty() || !std::isdigit(static_cast<unsigned char>(text[0])))
    return Status::InvalidArgument("size " + quoted +
                                   " must start with a number (e.g. 1T, 64G, 256M)");
  std::string_view after_number = text;
  const std::optional<uint64_t> parsed = ConsumeU64(&after_number);
  if (!parsed) return Status::InvalidArgument("size " + quoted + " is too large");
  const uint64_t number = *parsed;
  const size_t i = text.size() - after_number.size();
  int shift = 0;
  std::string_view rest = text.substr(i);
  if (!rest.empty()) {
    shift = UnitShift(rest[0]);
    if (shift < 0 && !EqualsIgnoreCase(rest, "b"))
      return Status::InvalidArgument("size " + quoted + " has unknown suffix '" +
                                     std::string(rest) + "' (use K, M, G, T or P)");
    if (shift < 0)
      shift = 0, rest = {};
    else
      rest = rest.substr(1);
  }
  if (!rest.empty() && !EqualsIgnoreCase(rest, "ib") && !EqualsIgnoreCase(rest, "b"))
    return Status::InvalidArgument("size " + quoted + " has unknown suffix '" +
                                   std::string(text.substr(i)) + "' (use K, M, G, T or P)");
  if (shift > 0 && number > (UINT64_MAX >> shift))
    return Status::InvalidArgument("size " + quoted + " is too large");
  return number << shift;
}

std::string FormatSize(uint64_t bytes) {
  static const char kUnits[] = "KMGTP";
  if (bytes == 0) return "0";
  int unit = -1;
  while (unit < 4 && (bytes & 1023) == 0) {
    bytes >>= 10;
    ++unit;
  }
  std::string out = std::to_string(bytes);
  if (unit >= 0) out += kUnits[unit];
  return out;
}

}  // namespace khod
