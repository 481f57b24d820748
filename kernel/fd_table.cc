#include "kernel/fd_table.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "common/status_macros.h"
#include "kernel/proc_status.h"

namespace khod {

Result<int> HighestOpenFd() {
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) return Status::FromErrno("opendir /proc/self/fd", errno);
  const int own = ::dirfd(d);
  int highest = -1;
  while (const dirent* e = ::readdir(d)) {
    char* end = nullptr;
    const long fd = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0' || fd == own) continue;
    highest = std::max(highest, static_cast<int>(fd));
  }
  ::closedir(d);
  return highest;
}

Status ReserveFdTable(int more) {
  KHOD_ASSIGN_OR_RETURN(const int highest, HighestOpenFd());
  return ReserveFdTableAbove(highest, more);
}

Status ReserveFdTableAbove(int highest, int more) {
  rlimit l{};
  if (::getrlimit(RLIMIT_NOFILE, &l) != 0) return Status::FromErrno("getrlimit NOFILE", errno);
  const long cap = l.rlim_cur == RLIM_INFINITY ? (1L << 20) : static_cast<long>(l.rlim_cur) - 1;
  const int target = static_cast<int>(std::min<long>(static_cast<long>(highest) + more, cap));
  if (target <= highest || target < 3) return Status::Ok();
  KHOD_ASSIGN_OR_RETURN(const int size, FdTableSize());
  if (target < size) return Status::Ok();
  // Any open descriptor will do as the one dup'd: the probe opens its own.
  const int probe = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (probe < 0) return Status::FromErrno("open /dev/null", errno);
  const int high = ::fcntl(probe, F_DUPFD_CLOEXEC, target);
  const int err = errno;
  ::close(probe);
  if (high < 0)
    return Status::FromErrno("grow the fd table to " + std::to_string(target + 1) + " slots", err);
  ::close(high);
  return Status::Ok();
}

Result<int> FdTableSize() {
  KHOD_ASSIGN_OR_RETURN(const uint64_t size, ProcStatusNumber(0, "FDSize:"));
  if (size > INT32_MAX)
    return Status::Corruption("/proc/self/status: FDSize " + std::to_string(size));
  return static_cast<int>(size);
}

}  // namespace khod
