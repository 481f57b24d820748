#include "serializer/fdt_checksum.h"

#define XXH_STATIC_LINKING_ONLY  // XXH3_state_t on the stack
#include <xxhash.h>

namespace khod {

uint64_t FdtChecksum(const uint8_t* blob, size_t totalsize, size_t value_offset) {
  static const uint8_t kZeros[8] = {};
  XXH3_state_t state;
  XXH3_64bits_reset(&state);
  XXH3_64bits_update(&state, blob, value_offset);
  XXH3_64bits_update(&state, kZeros, sizeof kZeros);
  XXH3_64bits_update(&state, blob + value_offset + 8, totalsize - value_offset - 8);
  return XXH3_64bits_digest(&state);
}

}  // namespace khod
