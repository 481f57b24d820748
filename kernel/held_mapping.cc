#include "kernel/held_mapping.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <fstream>

#include "common/hex.h"
#include "kernel/pagemap.h"
#include "kernel/proc_maps.h"

namespace khod {

Result<HeldMapping> HeldMapping::Find(pid_t pid, int fd, uint64_t size) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return Status::FromErrno("fstat fd " + std::to_string(fd), errno);
  const std::string proc = "/proc/" + std::to_string(pid);
  std::ifstream maps(proc + "/maps");
  if (!maps) return Status::NotFound("cannot read " + proc + "/maps (no such process?)");
  std::string line;
  while (std::getline(maps, line)) {
    Result<ProcMapsEntry> e = ParseProcMapsLine(line);
    if (!e.ok()) continue;
    if (e->inode != st.st_ino || makedev(e->dev_major, e->dev_minor) != st.st_dev) continue;
    if (e->offset != 0 || e->end - e->start < size || !e->shared()) continue;
    int pm = ::open((proc + "/pagemap").c_str(), O_RDONLY | O_CLOEXEC);
    if (pm < 0) return Status::FromErrno("open " + proc + "/pagemap", errno);
    return HeldMapping(pid, e->start, UniqueFd(pm));
  }
  return Status::NotFound("pid " + std::to_string(pid) + " maps no shared range of inode " +
                          std::to_string(st.st_ino) + " from offset 0 covering " +
                          std::to_string(size) + " bytes");
}

Status HeldMapping::Read(uint64_t first, size_t n, uint64_t* out) const {
  const uint64_t page = static_cast<uint64_t>(::getpagesize());
  const uint64_t vpn = address_ / page + first;
  return PreadAll(pagemap_.get(), out, n * sizeof(uint64_t), vpn * sizeof(uint64_t),
                  "held mapping's pagemap");
}

std::string HeldMapping::Describe() const {
  return "pid " + std::to_string(pid_) + "'s mapping at " + Hex(address_);
}

}  // namespace khod
