#include "serializer/fdt_structure.h"

#include <libfdt.h>

#include <cstdint>
#include <cstring>
#include <string>

#include "common/hex.h"
#include "common/status_macros.h"

namespace khod {
namespace {

uint32_t Be32(const uint8_t* p) { return fdt32_ld(reinterpret_cast<const fdt32_t*>(p)); }
uint64_t Be64(const uint8_t* p) { return fdt64_ld(reinterpret_cast<const fdt64_t*>(p)); }
uint64_t Align4(uint64_t v) { return (v + 3) & ~uint64_t{3}; }

Status At(uint64_t blob_offset, const std::string& what) {
  return Status::Corruption("at byte " + Hex(blob_offset) + ": " + what);
}

Status CheckReservationMap(const uint8_t* base) {
  const uint64_t total = fdt_totalsize(base);
  const uint64_t start = fdt_off_mem_rsvmap(base);
  if (start % 8 != 0)
    return Status::Corruption("memory reservation map offset " + Hex(start) +
                              " is not 8-byte aligned");
  // One entry is two big-endian u64 (address, size); the map ends at an all-zero entry.
  constexpr uint64_t kEntry = 16;
  for (uint64_t p = start;; p += kEntry) {
    if (p + kEntry > total)
      return At(p, "memory reservation map reaches the blob's end (" + std::to_string(total) +
                       " bytes) without its terminating zero entry");
    if (Be64(base + p) == 0 && Be64(base + p + 8) == 0) return Status::Ok();
  }
}

// Each pass of the loop moves `pos` forward by at least one 4-byte token, so the
// walk takes at most size_dt_struct / 4 steps.
Status CheckStructureBlock(const uint8_t* base) {
  const uint64_t off = fdt_off_dt_struct(base);
  const uint64_t size = fdt_size_dt_struct(base);
  const uint64_t strings_off = fdt_off_dt_strings(base);
  const uint64_t strings_size = fdt_size_dt_strings(base);
  if (off % 4 != 0 || size % 4 != 0)
    return Status::Corruption("structure block at " + Hex(off) + " of " + std::to_string(size) +
                              " bytes is not 4-byte aligned");
  const uint8_t* block = base + off;
  int depth = 0;
  bool root_seen = false;
  bool props_allowed = false;  // a node's properties come before its first subnode
  uint64_t pos = 0;
  while (true) {
    if (pos + 4 > size) return At(off + pos, "structure block ends without FDT_END");
    const uint32_t token = Be32(block + pos);
    switch (token) {
      case FDT_BEGIN_NODE: {
        if (depth == 0 && root_seen) return At(off + pos, "a second root node");
        const uint8_t* name = block + pos + 4;
        const void* nul = std::memchr(name, '\0', size - pos - 4);
        if (nul == nullptr) return At(off + pos, "node name runs past the structure block");
        const uint64_t name_len = static_cast<const uint8_t*>(nul) - name;
        if (depth == 0 && name_len != 0) return At(off + pos, "the root node has a name");
        if (++depth > kMaxFdtDepth)
          return At(off + pos, "nodes nested deeper than " + std::to_string(kMaxFdtDepth));
        root_seen = true;
        props_allowed = true;
        pos = Align4(pos + 4 + name_len + 1);
        break;
      }
      case FDT_END_NODE:
        if (depth == 0) return At(off + pos, "FDT_END_NODE outside any node");
        --depth;
        props_allowed = false;
        pos += 4;
        break;
      case FDT_PROP: {
        if (depth == 0) return At(off + pos, "property outside any node");
        if (!props_allowed) return At(off + pos, "property after a subnode of its node");
        if (size - pos < 12) return At(off + pos, "property header runs past the structure block");
        const uint64_t len = Be32(block + pos + 4);
        const uint64_t name_off = Be32(block + pos + 8);
        if (len > size - pos - 12)
          return At(off + pos, "property value of " + std::to_string(len) +
                                   " bytes runs past the structure block (" +
                                   std::to_string(size - pos - 12) + " bytes left)");
        if (name_off >= strings_size)
          return At(off + pos, "property name offset " + std::to_string(name_off) +
                                   " outside the strings block (" + std::to_string(strings_size) +
                                   " bytes)");
        if (std::memchr(base + strings_off + name_off, '\0', strings_size - name_off) == nullptr)
          return At(off + pos, "property name at strings offset " + std::to_string(name_off) +
                                   " is not NUL-terminated inside the strings block");
        pos = Align4(pos + 12 + len);
        break;
      }
      case FDT_NOP:
        pos += 4;
        break;
      case FDT_END:
        if (!root_seen) return At(off + pos, "FDT_END before any root node");
        if (depth != 0)
          return At(off + pos, "FDT_END with " + std::to_string(depth) + " node(s) not closed");
        if (pos + 4 != size)
          return At(off + pos, std::to_string(size - pos - 4) +
                                   " bytes after FDT_END inside the structure block");
        return Status::Ok();
      default:
        return At(off + pos, "unknown structure token " + Hex(token));
    }
  }
}

}  // namespace

Status CheckFdtStructure(const void* fdt) {
  const uint8_t* base = static_cast<const uint8_t*>(fdt);
  if (fdt_version(fdt) < 17)
    return Status::Corruption("header version " + std::to_string(fdt_version(fdt)) +
                              ": khod reads version 17 and later (where the header holds the "
                              "structure block's size)");
  KHOD_RETURN_IF_ERROR(CheckReservationMap(base));
  return CheckStructureBlock(base);
}

}  // namespace khod
