#include "kernel/meminfo.h"

#include <optional>
#include <string_view>

#include "common/file_read.h"
#include "common/numbers.h"
#include "common/status_macros.h"
#include "common/text_lines.h"

namespace khod {

Result<uint64_t> ReadHardwareCorruptedKb(const std::string& path) {
  FileReadOptions o;
  o.max_bytes = 1 << 20;  // /proc/meminfo is ~1.5 KiB
  o.missing_is_not_found = false;
  o.too_large_is_corruption = false;
  o.too_large_why = "not a meminfo";
  KHOD_ASSIGN_OR_RETURN(std::string text, ReadWholeFile(path, o));
  std::optional<uint64_t> kb;
  KHOD_RETURN_IF_ERROR(ForEachLine(text, [&](std::string_view line) -> Status {
    std::optional<std::string_view> value = FieldValue(line, "HardwareCorrupted:");
    if (kb || !value) return Status::Ok();  // the first such line counts
    const bool starts_with_digit = !value->empty() && (*value)[0] >= '0' && (*value)[0] <= '9';
    kb = ConsumeU64(&*value);
    if (starts_with_digit && !kb) return Status::Corruption(path + ": HardwareCorrupted overflows");
    if (!kb || (!value->empty() && (*value)[0] != ' '))
      return Status::Corruption(path + ": HardwareCorrupted has no number");
    return Status::Ok();
  }));
  return kb.value_or(0);
}

}  // namespace khod
