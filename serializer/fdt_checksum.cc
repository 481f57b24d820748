#include "serializer/fdt_checksum.h"

#include <libfdt.h>

#include "common/coding.h"
#include "common/xxh3.h"
#include "serializer/fdt_layout.h"
#include "serializer/fdt_structure.h"

namespace khod {

uint64_t FdtChecksum(const uint8_t* blob, size_t totalsize, size_t value_offset) {
  static const uint8_t kZeros[8] = {};
  return Xxh3Concat({{blob, value_offset},
                     {kZeros, sizeof kZeros},
                     {blob + value_offset + 8, totalsize - value_offset - 8}});
}

Status SealFdt(std::string* blob) {
  void* fdt = &(*blob)[0];
  if (blob->size() < sizeof(struct fdt_header) || fdt_check_header(fdt) != 0 ||
      fdt_totalsize(fdt) > blob->size())
    return Status::InvalidArgument("fdt seal: not a complete FDT");
  // Tests and the fuzzer seal edited blobs: libfdt may walk this one only once it is sound.
  const Status structure = CheckFdtStructure(fdt);
  if (!structure.ok()) return Status::InvalidArgument("fdt seal: " + structure.message());
  int len = 0;
  const void* sum = fdt_getprop(fdt, 0, fdt_layout::kPropChecksum, &len);
  if (sum == nullptr || len != 8)
    return Status::InvalidArgument("fdt seal: root has no 8-byte checksum property");
  const size_t at = static_cast<const char*>(sum) - blob->data();
  uint8_t* const bytes = reinterpret_cast<uint8_t*>(&(*blob)[0]);
  // Native endian, like every khod FDT integer.
  EncodeNative64(bytes + at, FdtChecksum(bytes, fdt_totalsize(fdt), at));
  return Status::Ok();
}

}  // namespace khod
