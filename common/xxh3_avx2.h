// xxhash's XXH3-64 compiled for AVX2 (common/xxh3_avx2.cc, built with
// -mavx2): to be called only where the CPU has AVX2, which common/xxh3.h
// decides. No standard C++ header is included in its unit, so that no
// inline function of another unit is ever taken from its AVX2 code.
#ifndef KHOD_COMMON_XXH3_AVX2_H_
#define KHOD_COMMON_XXH3_AVX2_H_

#include <stddef.h>
#include <stdint.h>

namespace khod {
namespace xxh3_avx2 {

uint64_t Hash(const void* data, size_t len);
// On an XXH3_state_t (64-byte aligned), as XXH3_64bits_reset, _update and
// _digest do.
void Reset(void* state);
void Update(void* state, const void* data, size_t len);
uint64_t Digest(const void* state);

}  // namespace xxh3_avx2
}  // namespace khod

#endif  // KHOD_COMMON_XXH3_AVX2_H_
