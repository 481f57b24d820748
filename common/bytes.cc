#include "common/bytes.h"

#include <cstdio>

namespace khod {

std::string HumanBytes(uint64_t n) {
  char b[32];
  if (n >= (1ull << 30))
    std::snprintf(b, sizeof(b), "%.1f GiB", n / 1073741824.0);
  else if (n >= (1u << 20))
    std::snprintf(b, sizeof(b), "%.1f MiB", n / 1048576.0);
  else if (n >= 1024)
    std::snprintf(b, sizeof(b), "%.1f KiB", n / 1024.0);
  else
    std::snprintf(b, sizeof(b), "%llu B", static_cast<unsigned long long>(n));
  return b;
}

}  // namespace khod
