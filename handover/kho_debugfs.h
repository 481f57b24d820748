// After a kexec with KHO (Kexec HandOver), the new kernel shows what the old
// one handed over under debugfs (kernel/liveupdate/kexec_handover_debugfs.c):
//   <debugfs>/kho/in/fdt               KHO's root FDT, exactly totalsize bytes
//   <debugfs>/kho/in/sub_fdts/<name>   each subsystem's blob (LUO's is "LUO")
// The root's `compatible` names KHO's ABI: "kho-v1" in 6.19 (each subsystem a
// node under the root with a u64 property "fdt", the physical address of its
// FDT), "kho-v2" later (property "preserved-data"). khod only reads and
// reports this tree (the LUO transport carries khod's own blob); it never
// interprets physical addresses. Not exercised here (no KHO on these
// machines): tested on trees the tests build with libfdt.
#ifndef KHOD_HANDOVER_KHO_DEBUGFS_H_
#define KHOD_HANDOVER_KHO_DEBUGFS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace khod {

constexpr const char* kKhoSubFdtName = "khod";
constexpr const char* kDefaultDebugfsRoot = "/sys/kernel/debug";

// One node under KHO's root: a subsystem's entry.
struct KhoSubtree {
  std::string name;          // node name, e.g. "LUO"
  bool has_address = false;  // carries the ABI's u64 address property
  bool exposed = false;      // <in>/sub_fdts/<name> exists
  uint64_t bytes = 0;        // its size (the FDT's totalsize when it is one)
  std::string compatible;    // its root `compatible` when it is an FDT ("luo-v1")
  std::string problem;       // why it was not read as an FDT; "" when it was
};

// What the previous kernel handed over through KHO, as debugfs shows it.
struct KhoIncoming {
  std::string in_dir;    // <debugfs_root>/kho/in
  bool present = false;  // in_dir exists: this boot is a KHO kexec
  uint64_t fdt_bytes = 0;
  std::string compatible;  // "kho-v1"
  std::vector<KhoSubtree> subtrees;
  // "KHO incoming FDT: 1.2 KiB, compatible kho-v1, sub-FDTs: LUO (luo-v1)" or
  // "KHO incoming FDT: none (... missing: ...)".
  std::string Summary() const;
};

// Reads <debugfs_root>/kho/in. Absent is not an error (present = false: no
// KHO kexec, debugfs not mounted, or a kernel without CONFIG_KEXEC_HANDOVER).
// A root FDT that is missing, truncated, structurally broken, without a
// `compatible` or with one that is not KHO's is Corruption naming the file
// and the problem; a KHO ABI khod does not know ("kho-v9") is Unsupported.
// A sub-FDT that does not parse is noted in its `problem`, not an error:
// its owner (LUO, ...) is the judge of it.
Result<KhoIncoming> ReadKhoIncoming(const std::string& debugfs_root);

// Reads <debugfs_root>/kho/in/sub_fdts/<name>, checking the FDT header, that
// totalsize fits the file (bytes past it are dropped) and the structure walk
// (serializer/fdt_structure.h: Corruption "PATH: malformed structure: ..."), so
// libfdt's accessors are safe on what it returns. Unsupported when the kernel
// has no incoming KHO tree.
Result<std::string> ReadKhoIncomingSubFdt(const std::string& debugfs_root,
                                          const std::string& name = kKhoSubFdtName);

}  // namespace khod

#endif  // KHOD_HANDOVER_KHO_DEBUGFS_H_
