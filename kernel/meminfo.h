// The kernel's count of memory lost to hardware errors, /proc/meminfo's
// "HardwareCorrupted:" (kB; num_poisoned_pages). memory_failure() raises it
// when it sets PG_hwpoison on a page, before unmapping that page, so an
// unchanged count between two reads means no page anywhere was poisoned in
// between: capture/flag_reuse.h relies on that.
#ifndef KHOD_KERNEL_MEMINFO_H_
#define KHOD_KERNEL_MEMINFO_H_

#include <cstdint>
#include <string>

#include "common/status.h"

namespace khod {

constexpr char kProcMeminfo[] = "/proc/meminfo";

// The "HardwareCorrupted:" value of `path` in kB. A kernel without
// CONFIG_MEMORY_FAILURE has no such line and can poison nothing: 0.
// Unreadable file or a malformed line: an error naming the file.
Result<uint64_t> ReadHardwareCorruptedKb(const std::string& path = kProcMeminfo);

}  // namespace khod

#endif  // KHOD_KERNEL_MEMINFO_H_
