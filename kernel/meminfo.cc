#include "kernel/meminfo.h"

#include <cstring>

#include "common/file_read.h"

namespace khod {

Result<uint64_t> ReadHardwareCorruptedKb(const std::string& path) {
  FileReadOptions o;
  o.max_bytes = 1 << 20;  // /proc/meminfo is ~1.5 KiB
  o.missing_is_not_found = false;
  o.too_large_is_corruption = false;
  o.too_large_why = "not a meminfo";
  Result<std::string> text = ReadWholeFile(path, o);
  if (!text.ok()) return text.status();
  static constexpr char kKey[] = "HardwareCorrupted:";
  for (size_t at = 0; at < text->size();) {
    size_t eol = text->find('\n', at);
    if (eol == std::string::npos) eol = text->size();
    if (text->compare(at, sizeof(kKey) - 1, kKey) == 0) {
      size_t p = at + sizeof(kKey) - 1;
      while (p < eol && ((*text)[p] == ' ' || (*text)[p] == '\t')) ++p;
      if (p == eol || (*text)[p] < '0' || (*text)[p] > '9')
        return Status::Corruption(path + ": HardwareCorrupted has no number");
      uint64_t v = 0;
      for (; p < eol && (*text)[p] >= '0' && (*text)[p] <= '9'; ++p) {
        if (v > (UINT64_MAX - 9) / 10) return Status::Corruption(path + ": HardwareCorrupted overflows");
        v = v * 10 + static_cast<uint64_t>((*text)[p] - '0');
      }
      return v;
    }
    at = eol + 1;
  }
  return uint64_t{0};
}

}  // namespace khod
