// common/xxh3.h gives xxhash's XXH3-64 values (the library's SSE2 build is
// the reference), on every length and alignment and in pieces, and its AVX2
// code (where this CPU has AVX2) gives them too.
#include "common/xxh3.h"

#include <cpuid.h>
#include <gtest/gtest.h>
#include <xxhash.h>

#include <algorithm>
#include <random>
#include <vector>

#include "common/xxh3_avx2.h"

namespace khod {
namespace {

std::vector<uint8_t> RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint8_t> b(n);
  for (uint8_t& x : b) x = static_cast<uint8_t>(rng());
  return b;
}

// XXH3 has separate paths for 0-16, 17-128, 129-240 and longer inputs, and
// stripes of 64 bytes in blocks of 1 KiB: lengths around each edge, and MiBs.
std::vector<size_t> Lengths() {
  std::vector<size_t> n;
  for (size_t i = 0; i <= 300; ++i) n.push_back(i);
  for (size_t edge : {1024u, 4096u, 65536u, 1u << 20})
    for (size_t d = 0; d < 5; ++d) {
      n.push_back(edge - d);
      n.push_back(edge + d);
    }
  n.push_back((3u << 20) + 12345);
  return n;
}

TEST(Xxh3Test, IsTheLibrarysXxh3OnEveryLengthAndAlignment) {
  const std::vector<uint8_t> bytes = RandomBytes((4u << 20) + 64, 1);
  for (size_t len : Lengths()) {
    for (size_t at : {0u, 1u, 7u, 33u}) {
      ASSERT_EQ(Xxh3(bytes.data() + at, len), XXH3_64bits(bytes.data() + at, len))
          << len << " bytes at +" << at;
      if (Xxh3UsesAvx2()) {
        ASSERT_EQ(xxh3_avx2::Hash(bytes.data() + at, len), XXH3_64bits(bytes.data() + at, len))
            << len << " bytes at +" << at;
      }
    }
  }
}

TEST(Xxh3Test, InPiecesIsTheHashOfThemTogether) {
  const std::vector<uint8_t> bytes = RandomBytes(3u << 20, 2);
  std::mt19937_64 rng(3);
  for (int round = 0; round < 200; ++round) {
    const size_t len = round < 100 ? rng() % 2000 : rng() % bytes.size();
    const size_t a = len ? rng() % (len + 1) : 0, b = a + (len - a ? rng() % (len - a + 1) : 0);
    const uint64_t whole = XXH3_64bits(bytes.data(), len);
    EXPECT_EQ(
        Xxh3Concat({{bytes.data(), a}, {bytes.data() + a, b - a}, {bytes.data() + b, len - b}}),
        whole)
        << "round " << round << ": " << len << " bytes cut at " << a << " and " << b;
  }
  EXPECT_EQ(Xxh3Concat({}), XXH3_64bits(nullptr, 0));
  // Many pieces, some empty.
  std::initializer_list<Xxh3Piece> nine = {
      {bytes.data(), 1},      {bytes.data() + 1, 2},  {bytes.data() + 3, 3},
      {bytes.data() + 6, 4},  {bytes.data() + 10, 5}, {bytes.data() + 15, 6},
      {bytes.data() + 21, 7}, {bytes.data() + 28, 8}, {bytes.data() + 36, 1000}};
  EXPECT_EQ(Xxh3Concat(nine), XXH3_64bits(bytes.data(), 1036));
}

// One stream for many hashes, as each content-hash thread keeps one: Reset
// starts over, and reads of any size add up to the hash of the whole.
TEST(Xxh3Test, AStreamResetForEachHashGivesEachOnesHash) {
  const std::vector<uint8_t> bytes = RandomBytes(2u << 20, 5);
  std::mt19937_64 rng(6);
  Xxh3Stream stream;
  for (int round = 0; round < 60; ++round) {
    const size_t len = round % 3 == 0 ? rng() % 500 : rng() % bytes.size();
    const size_t at = rng() % (bytes.size() - len + 1);
    stream.Reset();
    for (size_t done = 0; done < len;) {
      const size_t n = std::min<size_t>(len - done, 1 + rng() % (round % 2 ? 100 : 300000));
      stream.Update(bytes.data() + at + done, n);
      done += n;
    }
    EXPECT_EQ(stream.Digest(), XXH3_64bits(bytes.data() + at, len))
        << "round " << round << ": " << len << " bytes at " << at;
  }
}

// XGETBV(1) (where the CPU has it) reads which register states are in use:
// bit 2, the upper halves of the YMM registers. AVX2 code that returns with
// them in use makes every SSE instruction after it slow (hash_bench: the
// library's XXH3 at a third of its speed after one call of the AVX2 code).
bool UpperYmmInUse(bool* known) {
  unsigned a, b, c, d;
  *known = __get_cpuid_count(0xd, 1, &a, &b, &c, &d) && (a & (1u << 2));
  if (!*known) return false;
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(1));
  return (lo & (1u << 2)) != 0;
}

TEST(Xxh3Test, Avx2CodeReturnsWithTheUpperRegisterHalvesClear) {
  if (!Xxh3UsesAvx2()) GTEST_SKIP() << "no AVX2 on this CPU: the library's code is used";
  bool known = false;
  (void)UpperYmmInUse(&known);
  if (!known) GTEST_SKIP() << "this CPU cannot say which register states are in use (XGETBV 1)";
  const std::vector<uint8_t> bytes = RandomBytes(1u << 20, 4);
  for (size_t len : {4096u, 1u << 20}) {
    const uint64_t h = xxh3_avx2::Hash(bytes.data(), len);
    EXPECT_FALSE(UpperYmmInUse(&known)) << "after Hash of " << len << " bytes";
    alignas(64) unsigned char state[Xxh3Stream::kStateBytes];
    xxh3_avx2::Reset(state);
    EXPECT_FALSE(UpperYmmInUse(&known)) << "after Reset";
    xxh3_avx2::Update(state, bytes.data(), 100);
    xxh3_avx2::Update(state, bytes.data() + 100, len - 100);
    EXPECT_FALSE(UpperYmmInUse(&known)) << "after Update of " << len << " bytes";
    EXPECT_EQ(xxh3_avx2::Digest(state), h);
    EXPECT_FALSE(UpperYmmInUse(&known)) << "after Digest of " << len << " bytes";
  }
}

}  // namespace
}  // namespace khod
