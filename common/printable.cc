#include "common/printable.h"

namespace khod {

std::string EscapeNonPrintable(std::string_view s) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(s.size());
  for (const char c : s) {
    const unsigned char b = static_cast<unsigned char>(c);
    if (b >= 0x20 && b <= 0x7e && b != '\\') {
      out.push_back(c);
      continue;
    }
    out += "\\x";
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0xf]);
  }
  return out;
}

}  // namespace khod
