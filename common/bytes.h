// "12.3 KiB": how byte counts are shown in khod's messages and khoctl's
// reports (binary units, one decimal). One definition for every layer.
#ifndef KHOD_COMMON_BYTES_H_
#define KHOD_COMMON_BYTES_H_

#include <cstdint>
#include <string>

namespace khod {

std::string HumanBytes(uint64_t n);

}  // namespace khod

#endif  // KHOD_COMMON_BYTES_H_
