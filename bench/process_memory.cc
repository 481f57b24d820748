#include "bench/process_memory.h"

#include <optional>
#include <string>
#include <string_view>

#include "common/file_read.h"
#include "common/numbers.h"
#include "common/text_lines.h"

namespace khod {

uint64_t RssAnonKb(pid_t pid) {
  FileReadOptions o;
  o.max_bytes = 64 << 10;  // /proc/PID/status is ~1.5 KiB
  o.too_large_why = "not a /proc/PID/status";
  const std::string path =
      pid > 0 ? "/proc/" + std::to_string(pid) + "/status" : std::string("/proc/self/status");
  Result<std::string> text = ReadWholeFile(path, o);
  if (!text.ok()) return 0;
  uint64_t kb = 0;
  (void)ForEachLine(*text, [&](std::string_view line) {
    if (std::optional<std::string_view> v = FieldValue(line, "RssAnon:"))
      if (std::optional<uint64_t> n = ConsumeU64(&*v)) kb = *n;
    return Status::Ok();
  });
  return kb;
}

}  // namespace khod
