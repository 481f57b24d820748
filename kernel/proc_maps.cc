#include "kernel/proc_maps.h"

#include <algorithm>
#include <cstdint>
#include <optional>

#include "common/file_read.h"
#include "common/numbers.h"

namespace khod {
namespace {

// A hex number of at most `max` at the start of `*r`, followed by `then`;
// both are consumed.
bool TakeHex(std::string_view* r, char then, uint64_t max, uint64_t* out) {
  const std::optional<uint64_t> v = ConsumeHexU64(r);
  if (!v || *v > max || r->empty() || (*r)[0] != then) return false;
  r->remove_prefix(1);
  *out = *v;
  return true;
}

// "START-END PERMS OFFSET MAJOR:MINOR INODE [PATH]", each number whole: the
// kernel writes one space between fields and pads before the path.
bool ParseFields(std::string_view r, ProcMapsEntry* e) {
  uint64_t major = 0, minor = 0;
  if (!TakeHex(&r, '-', UINT64_MAX, &e->start) || !TakeHex(&r, ' ', UINT64_MAX, &e->end))
    return false;
  if (r.size() < 5 || r[4] != ' ' || r.substr(0, 4).find(' ') != std::string_view::npos)
    return false;
  e->perms = std::string(r.substr(0, 4));
  r.remove_prefix(5);
  if (!TakeHex(&r, ' ', UINT64_MAX, &e->offset) || !TakeHex(&r, ':', UINT32_MAX, &major) ||
      !TakeHex(&r, ' ', UINT32_MAX, &minor))
    return false;
  const std::optional<uint64_t> inode = ConsumeU64(&r);
  if (!inode || (!r.empty() && r[0] != ' ')) return false;
  e->dev_major = static_cast<uint32_t>(major);
  e->dev_minor = static_cast<uint32_t>(minor);
  e->inode = *inode;
  r.remove_prefix(std::min(r.find_first_not_of(' '), r.size()));
  e->path = std::string(r);
  return e->end > e->start;
}

}  // namespace

Result<ProcMapsEntry> ParseProcMapsLine(std::string_view line) {
  const std::string s(line.substr(0, 4096));
  ProcMapsEntry e;
  if (!ParseFields(s, &e))
    return Status::InvalidArgument("not a /proc/PID/maps line: '" + s.substr(0, 120) + "'");
  return e;
}

Result<std::string> ReadProcMapsText(pid_t pid, std::string_view name) {
  FileReadOptions o;
  o.max_bytes = kMaxProcMapsTextBytes;
  o.too_large_is_corruption = false;
  o.too_large_why = "more mappings than any VMM has";
  return ReadWholeFile("/proc/" + std::to_string(pid) + "/" + std::string(name), o);
}

}  // namespace khod
