// The FDT form's whole-blob checksum (docs/FORMAT.md "FDT checksum"): XXH3-64
// of bytes [0, totalsize) with the 8 value bytes of the root "checksum"
// property counted as zeros. It covers the FDT header, the struct and the
// strings block, so any bit flip is caught, which libfdt's own checks do not
// promise.
#ifndef KHOD_SERIALIZER_FDT_CHECKSUM_H_
#define KHOD_SERIALIZER_FDT_CHECKSUM_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/status.h"

namespace khod {

// `value_offset` is where the checksum's 8 bytes sit inside the blob.
uint64_t FdtChecksum(const uint8_t* blob, size_t totalsize, size_t value_offset);

// Computes the checksum of a finished FDT and stores it in its root
// "checksum" property (which must exist, 8 bytes). Used by the encoder, and by
// tests that edit a blob on purpose and must re-seal it.
Status SealFdt(std::string* blob);

}  // namespace khod

#endif  // KHOD_SERIALIZER_FDT_CHECKSUM_H_
