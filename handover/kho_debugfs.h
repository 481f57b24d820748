// After a real kexec with KHO, the previous kernel's FDT (and each subsystem's
// sub-FDT) is readable under debugfs: <debugfs>/kho/in/fdt and
// <debugfs>/kho/in/sub_fdts/<name>. khod's snapshot travels as the sub-FDT
// "khod" in the FDT format of serializer/. Not exercised here (no KHO on
// these machines); tested against a fake debugfs tree.
#ifndef KHOD_HANDOVER_KHO_DEBUGFS_H_
#define KHOD_HANDOVER_KHO_DEBUGFS_H_

#include <string>

#include "common/status.h"

namespace khod {

constexpr const char* kKhoSubFdtName = "khod";

// Reads <debugfs_root>/kho/in/sub_fdts/<name>, checking the FDT magic and that
// the header's totalsize matches the file. Unsupported when the kernel has no
// incoming KHO tree (no kexec happened, or no CONFIG_KEXEC_HANDOVER).
Result<std::string> ReadKhoIncomingSubFdt(const std::string& debugfs_root,
                                          const std::string& name = kKhoSubFdtName);

}  // namespace khod

#endif  // KHOD_HANDOVER_KHO_DEBUGFS_H_
