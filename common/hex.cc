#include "common/hex.h"

#include <cinttypes>
#include <cstdio>

namespace khod {

std::string Hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%" PRIx64, v);
  return buf;
}

}  // namespace khod
