// "0x2a": how tokens, PFNs, flags and capabilities are shown in messages,
// diffs, khoctl and the probe. One definition for every layer.
#ifndef KHOD_COMMON_HEX_H_
#define KHOD_COMMON_HEX_H_

#include <cstdint>
#include <string>

namespace khod {

std::string Hex(uint64_t v);

}  // namespace khod

#endif  // KHOD_COMMON_HEX_H_
