// SplitMix64: a tiny deterministic generator, so that one seed gives the same
// synthetic snapshot on every machine and standard-library version (the
// distributions of <random> are implementation-defined).
#ifndef KHOD_SYNTH_RNG_H_
#define KHOD_SYNTH_RNG_H_

#include <cstdint>

namespace khod {

class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}

  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }

  // Uniform in [lo, hi] (inclusive); the modulo bias is irrelevant here.
  uint64_t Between(uint64_t lo, uint64_t hi) {
    if (hi <= lo) return lo;
    const uint64_t span = hi - lo + 1;
    return span == 0 ? Next() : lo + Next() % span;
  }

 private:
  uint64_t state_;
};

}  // namespace khod

#endif  // KHOD_SYNTH_RNG_H_
