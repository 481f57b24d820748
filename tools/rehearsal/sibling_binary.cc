#include "tools/rehearsal/sibling_binary.h"

#include <climits>
#include <cstdlib>

namespace khod {

std::string SiblingBinary(const std::string& own_dir, const std::string& rel) {
  char self[PATH_MAX];
  if (::realpath("/proc/self/exe", self) == nullptr) return "";
  const std::string exe = self;
  const size_t pos = exe.rfind("/" + own_dir + "/");
  return pos == std::string::npos ? "" : exe.substr(0, pos) + "/" + rel;
}

}  // namespace khod
