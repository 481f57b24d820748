#include "kernel/held_mapping.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

#include "common/hex.h"
#include "common/text_lines.h"
#include "kernel/pagemap.h"
#include "kernel/proc_maps.h"

namespace khod {

namespace {

std::atomic<uint64_t> g_maps_reads{0};

// The lines of /proc/PID/maps that parse, in order.
Result<std::vector<ProcMapsEntry>> ReadMaps(pid_t pid) {
  Result<std::string> text = ReadProcMapsText(pid, "maps");
  if (!text.ok()) {
    if (text.status().code() == Status::Code::kNotFound)
      return Status::NotFound("cannot read /proc/" + std::to_string(pid) +
                              "/maps (no such process?)");
    return text.status();
  }
  ++g_maps_reads;
  std::vector<ProcMapsEntry> out;
  (void)ForEachLine(*text, [&](std::string_view line) {
    Result<ProcMapsEntry> e = ParseProcMapsLine(line);
    if (e.ok()) out.push_back(*e);
    return Status::Ok();
  });
  return out;
}

Result<std::shared_ptr<const UniqueFd>> OpenPagemap(pid_t pid) {
  const std::string path = "/proc/" + std::to_string(pid) + "/pagemap";
  const int pm = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (pm < 0) return Status::FromErrno("open " + path, errno);
  return std::make_shared<const UniqueFd>(pm);
}

// A process registered by FixedMappings: its maps, once read, and its
// pagemap, once opened, for all of its mappings' files.
struct Fixed {
  std::mutex mu;  // held while they are read or opened
  std::shared_ptr<const std::vector<ProcMapsEntry>> maps;
  std::shared_ptr<const UniqueFd> pagemap;
};

std::mutex g_fixed_mu;
std::map<pid_t, std::shared_ptr<Fixed>>& FixedProcesses() {
  static auto* m = new std::map<pid_t, std::shared_ptr<Fixed>>;  // never destroyed
  return *m;
}

std::shared_ptr<Fixed> FixedOf(pid_t pid) {
  std::lock_guard<std::mutex> l(g_fixed_mu);
  auto it = FixedProcesses().find(pid);
  return it == FixedProcesses().end() ? nullptr : it->second;
}

// Process `pid`'s maps: read now, or once for a registered process.
Result<std::shared_ptr<const std::vector<ProcMapsEntry>>> MapsOf(pid_t pid, Fixed* fixed) {
  if (!fixed) {
    Result<std::vector<ProcMapsEntry>> now = ReadMaps(pid);
    if (!now.ok()) return now.status();
    return std::make_shared<const std::vector<ProcMapsEntry>>(std::move(*now));
  }
  std::lock_guard<std::mutex> l(fixed->mu);
  if (!fixed->maps) {
    Result<std::vector<ProcMapsEntry>> now = ReadMaps(pid);
    if (!now.ok()) return now.status();  // not kept: a later Find reads again
    fixed->maps = std::make_shared<const std::vector<ProcMapsEntry>>(std::move(*now));
  }
  return fixed->maps;
}

// Process `pid`'s pagemap: opened now, or once for a registered process.
Result<std::shared_ptr<const UniqueFd>> PagemapOf(pid_t pid, Fixed* fixed) {
  if (!fixed) return OpenPagemap(pid);
  std::lock_guard<std::mutex> l(fixed->mu);
  if (!fixed->pagemap) {
    Result<std::shared_ptr<const UniqueFd>> pm = OpenPagemap(pid);
    if (!pm.ok()) return pm.status();  // not kept: a later Find opens again
    fixed->pagemap = *pm;
  }
  return fixed->pagemap;
}

}  // namespace

void HeldMapping::FixedMappings(pid_t pid) {
  std::lock_guard<std::mutex> l(g_fixed_mu);
  std::shared_ptr<Fixed>& f = FixedProcesses()[pid];
  if (!f) f = std::make_shared<Fixed>();
}

void HeldMapping::ForgetFixedMappings(pid_t pid) {
  std::lock_guard<std::mutex> l(g_fixed_mu);
  FixedProcesses().erase(pid);
}

uint64_t HeldMapping::maps_reads() { return g_maps_reads; }

Result<HeldMapping> HeldMapping::Find(pid_t pid, int fd, uint64_t size) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return Status::FromErrno("fstat fd " + std::to_string(fd), errno);
  const std::shared_ptr<Fixed> fixed = FixedOf(pid);
  Result<std::shared_ptr<const std::vector<ProcMapsEntry>>> maps = MapsOf(pid, fixed.get());
  if (!maps.ok()) return maps.status();
  for (const ProcMapsEntry& e : **maps) {
    if (e.inode != st.st_ino || makedev(e.dev_major, e.dev_minor) != st.st_dev) continue;
    if (e.offset != 0 || e.end - e.start < size || !e.shared()) continue;
    Result<std::shared_ptr<const UniqueFd>> pm = PagemapOf(pid, fixed.get());
    if (!pm.ok()) return pm.status();
    return HeldMapping(pid, e.start, std::move(*pm));
  }
  return Status::NotFound("pid " + std::to_string(pid) + " maps no shared range of inode " +
                          std::to_string(st.st_ino) + " from offset 0 covering " +
                          std::to_string(size) + " bytes");
}

Status HeldMapping::Read(uint64_t first, size_t n, uint64_t* out) const {
  const uint64_t page = static_cast<uint64_t>(::getpagesize());
  const uint64_t vpn = address_ / page + first;
  return PreadAll(pagemap_->get(), out, n * sizeof(uint64_t), vpn * sizeof(uint64_t),
                  "held mapping's pagemap");
}

std::string HeldMapping::Describe() const {
  return "pid " + std::to_string(pid_) + "'s mapping at " + Hex(address_);
}

}  // namespace khod
