#include "common/coding.h"

namespace khod {

void PutFixed64(std::string* dst, uint64_t v) {
  uint8_t buf[8];
  EncodeFixed64(buf, v);
  dst->append(reinterpret_cast<const char*>(buf), sizeof buf);
}

}  // namespace khod
