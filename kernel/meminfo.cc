#include "kernel/meminfo.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <string_view>

#include "common/file_read.h"
#include "common/numbers.h"
#include "common/status_macros.h"

namespace khod {

Result<uint64_t> ReadHardwareCorruptedKb(const std::string& path) {
  FileReadOptions o;
  o.max_bytes = 1 << 20;  // /proc/meminfo is ~1.5 KiB
  o.missing_is_not_found = false;
  o.too_large_is_corruption = false;
  o.too_large_why = "not a meminfo";
  KHOD_ASSIGN_OR_RETURN(std::string text, ReadWholeFile(path, o));
  static constexpr char kKey[] = "HardwareCorrupted:";
  for (size_t at = 0; at < text.size();) {
    size_t eol = text.find('\n', at);
    if (eol == std::string::npos) eol = text.size();
    if (text.compare(at, sizeof(kKey) - 1, kKey) == 0) {
      std::string_view value =
          std::string_view(text).substr(at + sizeof(kKey) - 1, eol - at - (sizeof(kKey) - 1));
      value.remove_prefix(std::min(value.find_first_not_of(" \t"), value.size()));
      const bool starts_with_digit = !value.empty() && value[0] >= '0' && value[0] <= '9';
      const std::optional<uint64_t> v = ConsumeU64(&value);
      if (starts_with_digit && !v)
        return Status::Corruption(path + ": HardwareCorrupted overflows");
      if (!v || (!value.empty() && value[0] != ' '))
        return Status::Corruption(path + ": HardwareCorrupted has no number");
      return *v;
    }
    at = eol + 1;
  }
  return uint64_t{0};
}

}  // namespace khod
