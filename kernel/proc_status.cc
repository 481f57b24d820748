#include "kernel/proc_status.h"

#include <optional>
#include <string>

#include "common/file_read.h"
#include "common/numbers.h"
#include "common/status_macros.h"
#include "common/text_lines.h"

namespace khod {

Result<uint64_t> ProcStatusNumber(pid_t pid, std::string_view key) {
  const std::string path =
      pid > 0 ? "/proc/" + std::to_string(pid) + "/status" : std::string("/proc/self/status");
  FileReadOptions o;
  o.max_bytes = 64 << 10;  // a status is ~1.5 KiB
  o.too_large_why = "not a /proc/PID/status";
  KHOD_ASSIGN_OR_RETURN(const std::string text, ReadWholeFile(path, o));
  std::optional<std::string_view> value;
  (void)ForEachLine(text, [&](std::string_view line) {
    if (!value) value = FieldValue(line, key);
    return Status::Ok();
  });
  const std::string what = path + " " + std::string(key);
  if (!value) return Status::NotFound(what + ": no such line");
  const std::optional<uint64_t> n = ConsumeU64(&*value);
  if (!n || !(value->empty() || *value == " kB"))
    return Status::Corruption(what + " holds no number");
  return *n;
}

}  // namespace khod
