// XXH3-64, the one hash khod writes and checks (docs/FORMAT.md: the session
// record's and the frame's checksums, the FDT checksum, the frozen blob's
// checksum in the record, content hashes), computed with the widest vector
// unit this CPU has.
//
// Why not XXH3_64bits itself: Debian's libxxhash is built for SSE2, and its
// run-time dispatch (xxh_x86dispatch) is in the shared library only, which a
// static khod cannot use. common/xxh3_avx2.cc compiles xxhash's own code
// (XXH_INLINE_ALL) for AVX2, taken where the CPU and the OS have it
// (docs/PERFORMANCE.md: the whole-blob checksums are serial per extent in
// the blackout). The values are xxhash's either way: the algorithm is fixed
// by its spec, not by the vector unit (tests/common/xxh3_test.cc).
#ifndef KHOD_COMMON_XXH3_H_
#define KHOD_COMMON_XXH3_H_

#include <cstddef>
#include <cstdint>
#include <future>
#include <initializer_list>
#include <string_view>

namespace khod {

uint64_t Xxh3(const void* data, size_t len);

struct Xxh3Piece {
  const void* data;
  size_t len;
};
// XXH3-64 of the pieces one after the other, without copying them together.
uint64_t Xxh3Concat(std::initializer_list<Xxh3Piece> pieces);

// XXH3-64 of bytes given a piece at a time, with Xxh3's code: Update as the
// bytes come (a read loop), Digest at the end; Reset to start again. No
// allocation: one per thread serves any number of hashes.
class Xxh3Stream {
 public:
  Xxh3Stream() { Reset(); }
  void Reset();
  void Update(const void* data, size_t len);
  uint64_t Digest() const;

  static constexpr size_t kStateBytes = 576;  // xxhash 0.8's XXH3_state_t (checked in xxh3.cc)

 private:
  alignas(64) unsigned char state_[kStateBytes];
};

// Xxh3 of `bytes`, on a thread of its own when `beside` (the caller goes on
// with other work and takes the value with get()), else when get() is
// called; also then where no thread can be had. `bytes` must outlive the
// future.
std::future<uint64_t> Xxh3Beside(std::string_view bytes, bool beside);

// Whether Xxh3 takes the AVX2 code on this CPU.
bool Xxh3UsesAvx2();

}  // namespace khod

#endif  // KHOD_COMMON_XXH3_H_
