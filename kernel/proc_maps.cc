#include "kernel/proc_maps.h"

#include <cinttypes>
#include <cstdio>

namespace khod {

Result<ProcMapsEntry> ParseProcMapsLine(std::string_view line) {
  const std::string s(line.substr(0, 4096));
  ProcMapsEntry e;
  char perms[8] = {};
  int path_at = -1;
  if (std::sscanf(s.c_str(), "%" SCNx64 "-%" SCNx64 " %7s %" SCNx64 " %x:%x %" SCNu64 " %n",
                  &e.start, &e.end, perms, &e.offset, &e.dev_major, &e.dev_minor, &e.inode,
                  &path_at) != 7 ||
      e.end <= e.start || std::string_view(perms).size() != 4)
    return Status::InvalidArgument("not a /proc/PID/maps line: '" + s.substr(0, 120) + "'");
  e.perms = perms;
  if (path_at > 0 && static_cast<size_t>(path_at) <= s.size()) e.path = s.substr(path_at);
  return e;
}

}  // namespace khod
