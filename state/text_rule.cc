#include "state/text_rule.h"

#include <cstdint>
#include <cstdio>

namespace khod {
namespace {

// Unicode 15.1's control (Cc) and format (Cf) characters and its line and
// paragraph separators (Zl, Zp): what TextRule::kGiven refuses past kStored.
struct Refused {
  uint32_t first, last;
  const char* what;
};
constexpr Refused kRefused[] = {
    {0x0000, 0x001f, "control character"},   {0x007f, 0x009f, "control character"},
    {0x00ad, 0x00ad, "format character"},    {0x0600, 0x0605, "format character"},
    {0x061c, 0x061c, "format character"},    {0x06dd, 0x06dd, "format character"},
    {0x070f, 0x070f, "format character"},    {0x0890, 0x0891, "format character"},
    {0x08e2, 0x08e2, "format character"},    {0x180e, 0x180e, "format character"},
    {0x200b, 0x200f, "format character"},    {0x2028, 0x2028, "line separator"},
    {0x2029, 0x2029, "paragraph separator"}, {0x202a, 0x202e, "format character"},
    {0x2060, 0x2064, "format character"},    {0x2066, 0x206f, "format character"},
    {0xfeff, 0xfeff, "format character"},    {0xfff9, 0xfffb, "format character"},
    {0x110bd, 0x110bd, "format character"},  {0x110cd, 0x110cd, "format character"},
    {0x13430, 0x1343f, "format character"},  {0x1bca0, 0x1bca3, "format character"},
    {0x1d173, 0x1d17a, "format character"},  {0xe0001, 0xe0001, "format character"},
    {0xe0020, 0xe007f, "format character"},
};

const char* RefusedKind(uint32_t cp, TextRule rule) {
  if (cp < 0x20 || cp == 0x7f) return "control character";  // both rules
  if (rule == TextRule::kStored) return nullptr;
  for (const Refused& r : kRefused)
    if (cp >= r.first && cp <= r.last) return r.what;
  return nullptr;
}

std::string CodePoint(uint32_t cp) {
  char b[16];
  std::snprintf(b, sizeof(b), "U+%04X", static_cast<unsigned>(cp));
  return b;
}

}  // namespace

std::string TextProblem(const std::string& s, TextRule rule) {
  const auto* begin = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = begin + s.size();
  for (const unsigned char* p = begin; p < end;) {
    const auto at = [&] { return " at byte " + std::to_string(p - begin); };
    const unsigned char c = *p;
    if (c == 0) return "contains a NUL byte (U+0000)" + at();
    size_t n;
    uint32_t cp;
    if (c < 0x80)
      n = 1, cp = c;
    else if ((c & 0xe0) == 0xc0)
      n = 2, cp = c & 0x1f;
    else if ((c & 0xf0) == 0xe0)
      n = 3, cp = c & 0x0f;
    else if ((c & 0xf8) == 0xf0)
      n = 4, cp = c & 0x07;
    else
      n = 0, cp = 0;
    // The bytes of a sequence that is not UTF-8, as far as they go.
    const auto not_utf8 = [&](size_t bytes) {
      std::string hex;
      for (size_t i = 0; i < bytes && p + i < end; ++i) {
        char h[8];
        std::snprintf(h, sizeof(h), "%s0x%02x", i ? " " : "", p[i]);
        hex += h;
      }
      return "is not valid UTF-8" + at() + " (" + hex + ")";
    };
    if (n == 0) return not_utf8(1);
    if (static_cast<size_t>(end - p) < n) return not_utf8(n);
    for (size_t i = 1; i < n; ++i) {
      if ((p[i] & 0xc0) != 0x80) return not_utf8(i + 1);
      cp = (cp << 6) | (p[i] & 0x3f);
    }
    static const uint32_t kMinForLength[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMinForLength[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return not_utf8(n);
    if (const char* kind = RefusedKind(cp, rule))
      return std::string("contains ") + kind + " " + CodePoint(cp) + at();
    p += n;
  }
  return "";
}

}  // namespace khod
