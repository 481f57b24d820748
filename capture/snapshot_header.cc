#include "capture/snapshot_header.h"

#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <fstream>
#include <string>

namespace khod {

SnapshotHeader CurrentSnapshotHeader() {
  SnapshotHeader h;
  h.producer = kProducer;
  struct utsname u;
  if (::uname(&u) == 0) h.kernel_release = u.release;
  h.boot_id = CurrentBootId();
  struct timespec ts;
  ::clock_gettime(CLOCK_REALTIME, &ts);
  h.capture_time_ns =
      static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
  h.page_size = static_cast<uint32_t>(::getpagesize());
  return h;
}

const std::string& CurrentBootId() {
  static const std::string id = [] {
    std::string text;
    std::ifstream boot("/proc/sys/kernel/random/boot_id");
    std::getline(boot, text);
    return text;
  }();
  return id;
}

bool CapturedThisBoot(const SnapshotHeader& h) {
  return !h.boot_id.empty() && h.boot_id == CurrentBootId();
}

}  // namespace khod
