#include "common/xxh3.h"

#define XXH_STATIC_LINKING_ONLY  // XXH3_state_t on the stack
#include <xxhash.h>

#include <system_error>

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

std::future<uint64_t> Xxh3Beside(std::string_view bytes, bool beside) {
  const auto hash = [bytes] { return Xxh3(bytes.data(), bytes.size()); };
  if (beside) {
    try {
      return std::async(std::launch::async, hash);
    } catch (const std::system_error&) {
    }
  }
  return std::async(std::launch::deferred, hash);
}

uint64_t Xxh3Concat(std::initializer_list<Xxh3Piece> pieces) {
  Xxh3Stream s;
  for (const Xxh3Piece& p : pieces) s.Update(p.data, p.len);
  return s.Digest();
}

static_assert(sizeof(XXH3_state_t) == Xxh3Stream::kStateBytes && alignof(XXH3_state_t) <= 64,
              "Xxh3Stream's state is not xxhash's XXH3_state_t");

void Xxh3Stream::Reset() {
  if (Xxh3UsesAvx2())
    xxh3_avx2::Reset(state_);
  else
    XXH3_64bits_reset(reinterpret_cast<XXH3_state_t*>(state_));
}

void Xxh3Stream::Update(const void* data, size_t len) {
  if (Xxh3UsesAvx2())
    xxh3_avx2::Update(state_, data, len);
  else
    XXH3_64bits_update(reinterpret_cast<XXH3_state_t*>(state_), data, len);
}

uint64_t Xxh3Stream::Digest() const {
  return Xxh3UsesAvx2() ? xxh3_avx2::Digest(state_)
                        : XXH3_64bits_digest(reinterpret_cast<const XXH3_state_t*>(state_));
}

}  // namespace khod
