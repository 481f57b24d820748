#include "khoctl/flag_parser.h"

#include <cstdio>

namespace khod {

int FailWithUsage(const char* command, const char* usage, const Status& status) {
  std::fprintf(stderr, "khoctl %s: %s\nusage: khoctl %s\n", command, status.message().c_str(),
               usage);
  return kExitError;
}

int Fail(const char* command, const Status& status) {
  std::fprintf(stderr, "khoctl %s: %s\n", command, status.ToString().c_str());
  return kExitError;
}

}  // namespace khod
