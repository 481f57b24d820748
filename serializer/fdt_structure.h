// CheckFdtStructure: a bounded walk of an untrusted flattened device tree, in
// place of libfdt's fdt_check_full(). Debian 12's libfdt 1.6.1 dereferences
// NULL or loops forever in fdt_check_full() on some hostile blobs
// (tests/fuzz/regressions/fdt_check_full_*.fdt), so no whole-tree libfdt call
// may see a blob before this check has passed.
//
// The walk reads each byte of the memory reservation map and the structure
// block at most once: work is linear in fdt_totalsize(), whatever the blob
// holds. Once it returns Ok, libfdt's accessors (fdt_getprop, fdt_next_node,
// fdt_subnode_offset, ...) only ever meet well-formed tokens, names and string
// offsets, so each of their walks is bounded by the structure block's size.
//
// What it requires (docs/FORMAT.md "FDT structure rules"):
//   - header version >= 17 (size_dt_struct present), as libfdt and KHO write;
//   - memory reservation map 8-byte aligned, ended by a zero entry inside the blob;
//   - structure block 4-byte aligned in offset and size;
//   - tokens: one root node with an empty name first, properties of a node before
//     its subnodes, property values and node names inside the block, property
//     name offsets inside the strings block and NUL-terminated there, nodes nested
//     at most kMaxFdtDepth deep, every node closed, FDT_END last.
#ifndef KHOD_SERIALIZER_FDT_STRUCTURE_H_
#define KHOD_SERIALIZER_FDT_STRUCTURE_H_

#include "common/status.h"

namespace khod {

// khod's snapshot tree is 3 deep and KHO's trees a few more; deeper is hostile.
constexpr int kMaxFdtDepth = 32;

// Precondition: fdt_check_header(fdt) == 0 and the buffer at `fdt` holds at
// least fdt_totalsize(fdt) bytes (both O(1) checks the callers make first, with
// their own messages). Returns Corruption naming the first problem and its
// offset in the blob.
Status CheckFdtStructure(const void* fdt);

}  // namespace khod

#endif  // KHOD_SERIALIZER_FDT_STRUCTURE_H_
