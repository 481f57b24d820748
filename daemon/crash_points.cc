#include "daemon/crash_points.h"

#include <unistd.h>

#include <cstdio>

namespace khod {

CrashPoints::CrashPoints(const std::string& at) {
  if (at.rfind(kAfterReexec, 0) == 0)
    after_reexec_ = at.substr(sizeof(kAfterReexec) - 1);
  else
    at_ = at;
}

void CrashPoints::Hit(const std::string& point) const {
  if (at_.empty() || point != at_) return;
  std::fprintf(stderr, "khod: --crash-at=%s reached: exiting 137 without cleanup\n", at_.c_str());
  std::fflush(stderr);
  ::_exit(137);
}

}  // namespace khod
