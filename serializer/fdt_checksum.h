// The FDT form's whole-blob checksum (docs/FORMAT.md "FDT checksum"): XXH3-64
// of bytes [0, totalsize) with the 8 value bytes of the root "checksum"
// property counted as zeros. It covers the FDT header, the struct and the
// strings block, so any bit flip is caught, which libfdt's own checks do not
// promise.
#ifndef KHOD_SERIALIZER_FDT_CHECKSUM_H_
#define KHOD_SERIALIZER_FDT_CHECKSUM_H_

#include <cstddef>
#include <cstdint>

namespace khod {

// `value_offset` is where the checksum's 8 bytes sit inside the blob.
uint64_t FdtChecksum(const uint8_t* blob, size_t totalsize, size_t value_offset);

}  // namespace khod

#endif  // KHOD_SERIALIZER_FDT_CHECKSUM_H_
