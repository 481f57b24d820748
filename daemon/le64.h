// Little-endian u64 in byte strings: the frame headers of khod's own files
// (record files, the LUO manifest) are written the same way on every host.
#ifndef KHOD_DAEMON_LE64_H_
#define KHOD_DAEMON_LE64_H_

#include <cstdint>
#include <string>

namespace khod {

inline void AppendLe64(std::string* s, uint64_t v) {
  for (int i = 0; i < 8; ++i) s->push_back(static_cast<char>(v >> (8 * i)));
}

inline uint64_t LoadLe64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

}  // namespace khod

#endif  // KHOD_DAEMON_LE64_H_
