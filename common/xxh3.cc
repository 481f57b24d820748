#include "common/xxh3.h"

#define XXH_STATIC_LINKING_ONLY  // XXH3_state_t on the stack
#include <xxhash.h>

#include "common/xxh3_avx2.h"

namespace khod {

bool Xxh3UsesAvx2() {
#if defined(__x86_64__)
  // libgcc's check includes the OS saving the AVX registers (XGETBV).
  static const bool avx2 = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") != 0;
  }();
  return avx2;
#else
  return false;
#endif
}

uint64_t Xxh3(const void* data, size_t len) {
  return Xxh3UsesAvx2() ? xxh3_avx2::Hash(data, len) : XXH3_64bits(data, len);
}

uint64_t Xxh3Concat(std::initializer_list<Xxh3Piece> pieces) {
  if (Xxh3UsesAvx2()) {
    constexpr size_t kMost = 8;
    const void* data[kMost];
    size_t lens[kMost];
    size_t n = 0;
    for (const Xxh3Piece& p : pieces) {
      if (n == kMost) break;
      data[n] = p.data;
      lens[n++] = p.len;
    }
    if (n == pieces.size()) return xxh3_avx2::HashPieces(data, lens, n);
  }
  XXH3_state_t state;
  XXH3_64bits_reset(&state);
  for (const Xxh3Piece& p : pieces) XXH3_64bits_update(&state, p.data, p.len);
  return XXH3_64bits_digest(&state);
}

}  // namespace khod
