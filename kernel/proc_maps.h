// One line of /proc/PID/maps: "start-end perms offset major:minor inode path".
// The mappings of a memory file (HeldMapping, a VMM's guest_memfd mappings)
// are found here by device and inode. And the one reader of a process's
// maps and numa_maps texts.
#ifndef KHOD_KERNEL_PROC_MAPS_H_
#define KHOD_KERNEL_PROC_MAPS_H_

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
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
// Only the line's first kProcTextLineBytes are read.
Result<ProcMapsEntry> ParseProcMapsLine(std::string_view line);

// What ParseProcMapsLine reads of a line but its perms and path, copied from
// neither: what a parse of every line of a process keeps (ProcessMappings),
// where a path may be 4 KiB and each line's copy would cost its size. The
// same lines parse, to the same fields, and fail with the same error.
struct ProcMapsFields {
  uint64_t start = 0, end = 0;
  uint64_t offset = 0;
  uint32_t dev_major = 0, dev_minor = 0;
  uint64_t inode = 0;
  bool shared = false;  // ProcMapsEntry::shared()
};
Result<ProcMapsFields> ParseProcMapsFields(std::string_view line);

// A process with a million mappings has 100 MB of maps; far above any VMM.
constexpr uint64_t kMaxProcMapsTextBytes = uint64_t{256} << 20;

// /proc/PID/NAME ("maps", "numa_maps") whole, bounded (common/file_read.h):
// NotFound when the file is absent (no such process), InvalidArgument past
// kMaxProcMapsTextBytes. Its size in memory is the text's: a process's
// mappings are read line by line (ForEachProcTextLine) where a process that
// is not khod's chooses how long its text is.
Result<std::string> ReadProcMapsText(pid_t pid, std::string_view name);

// The bytes of a line a line-by-line read gives: a maps line's fields (what
// ParseProcMapsLine reads) and a numa_maps line's address and policy come
// before the path that makes a line long (PATH_MAX, and more where a
// directory is deeper), which no reader here needs.
constexpr size_t kProcTextLineBytes = 4096;
// A line-by-line read's buffer: all it holds of the text at once.
constexpr size_t kProcTextReadBytes = size_t{64} << 10;

struct ProcTextRead {
  uint64_t bytes = 0;  // the text's size
  uint64_t held = 0;   // the most bytes of it held at once (at most kProcTextReadBytes)
};

// /proc/PID/NAME line by line: `line` for each non-empty '\n'-separated line
// in order, the last with or without its '\n' (as ForEachLine splits a whole
// text), each cut to its first kProcTextLineBytes, through one buffer of
// kProcTextReadBytes: memory does not grow with the text, whose lines are
// the process's to make long. The same bound and errors as
// ReadProcMapsText; lines given before an error are the caller's to drop.
Result<ProcTextRead> ForEachProcTextLine(pid_t pid, std::string_view name,
                                         const std::function<void(std::string_view line)>& line);

}  // namespace khod

#endif  // KHOD_KERNEL_PROC_MAPS_H_
