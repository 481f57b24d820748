// One line of /proc/PID/maps: "start-end perms offset major:minor inode path".
// The mappings of a memory file (HeldMapping, a VMM's guest_memfd mappings)
// are found here by device and inode. And the one reader of a process's
// maps and numa_maps texts.
#ifndef KHOD_KERNEL_PROC_MAPS_H_
#define KHOD_KERNEL_PROC_MAPS_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace khod {

struct ProcMapsEntry {
  uint64_t start = 0, end = 0;  // [start, end) virtual addresses
  std::string perms;            // "rw-s"
  uint64_t offset = 0;          // bytes into the file
  uint32_t dev_major = 0, dev_minor = 0;
  uint64_t inode = 0;
  std::string path;  // may be empty, or "anon_inode:[kvm-gmem]", "/memfd:vm0 (deleted)"
  bool shared() const { return perms.size() == 4 && perms[3] == 's'; }
};

// Parses one line. InvalidArgument naming the line when it is not one (the
// kernel's own lines always parse: this guards hostile or truncated text).
Result<ProcMapsEntry> ParseProcMapsLine(std::string_view line);

// A process with a million mappings has 100 MB of maps; far above any VMM.
constexpr uint64_t kMaxProcMapsTextBytes = uint64_t{256} << 20;

// /proc/PID/NAME ("maps", "numa_maps") whole, bounded (common/file_read.h):
// NotFound when the file is absent (no such process), InvalidArgument past
// kMaxProcMapsTextBytes.
Result<std::string> ReadProcMapsText(pid_t pid, std::string_view name);

}  // namespace khod

#endif  // KHOD_KERNEL_PROC_MAPS_H_
