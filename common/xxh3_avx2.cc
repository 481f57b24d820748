// Built with -mavx2 (common/BUILD, fuzz/build.sh): xxhash picks its AVX2
// accumulate loop from __AVX2__. Every xxhash function here is static
// (XXH_INLINE_ALL), apart from the library's, which other units link.
//
// Each entry point clears the upper halves of the vector registers before it
// returns: GCC leaves them dirty after xxhash's last local call, and the
// SSE code that runs next (the library's, glibc's) then pays for every
// instruction (bench/hash_bench.cc; docs/PERFORMANCE.md).
#include "common/xxh3_avx2.h"

#include <immintrin.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace khod {
namespace xxh3_avx2 {

uint64_t Hash(const void* data, size_t len) {
  const uint64_t h = XXH3_64bits(data, len);
  _mm256_zeroupper();
  return h;
}

void Reset(void* state) {
  XXH3_64bits_reset(static_cast<XXH3_state_t*>(state));
  _mm256_zeroupper();
}

void Update(void* state, const void* data, size_t len) {
  XXH3_64bits_update(static_cast<XXH3_state_t*>(state), data, len);
  _mm256_zeroupper();
}

uint64_t Digest(const void* state) {
  const uint64_t h = XXH3_64bits_digest(static_cast<const XXH3_state_t*>(state));
  _mm256_zeroupper();
  return h;
}

}  // namespace xxh3_avx2
}  // namespace khod
