#include "handover/kho_debugfs.h"

#include <sys/stat.h>

#include "daemon/record_file.h"

namespace khod {
namespace {

uint32_t BigEndian32(const std::string& s, size_t off) {
  return (uint32_t{static_cast<unsigned char>(s[off])} << 24) |
         (uint32_t{static_cast<unsigned char>(s[off + 1])} << 16) |
         (uint32_t{static_cast<unsigned char>(s[off + 2])} << 8) |
         uint32_t{static_cast<unsigned char>(s[off + 3])};
}

}  // namespace

Result<std::string> ReadKhoIncomingSubFdt(const std::string& debugfs_root, const std::string& name) {
  const std::string in = debugfs_root + "/kho/in";
  struct stat st;
  if (::stat(in.c_str(), &st) != 0)
    return Status::Unsupported(in + " is missing: no incoming KHO state (kernel without "
                               "CONFIG_KEXEC_HANDOVER, debugfs not mounted, or no kexec)");
  const std::string path = in + "/sub_fdts/" + name;
  Result<std::string> fdt = ReadWholeFile(path);
  if (!fdt.ok()) return fdt.status().WithContext("KHO incoming sub-FDT");
  if (fdt->size() < 8 || BigEndian32(*fdt, 0) != 0xd00dfeedu)
    return Status::Corruption(path + ": not a flattened device tree (bad magic)");
  uint32_t total = BigEndian32(*fdt, 4);
  if (total > fdt->size())
    return Status::Corruption(path + ": FDT totalsize " + std::to_string(total) +
                              " exceeds the " + std::to_string(fdt->size()) + " bytes read");
  fdt->resize(total);  // debugfs may expose the whole preserved page
  return fdt;
}

}  // namespace khod
