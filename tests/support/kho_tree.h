// Builds what debugfs shows after a KHO kexec (<root>/kho/in/fdt and
// in/sub_fdts/<name>) with libfdt, as kernel/liveupdate/ lays it out, so
// tests can point khod's debugfs root at it. Hostile variants are made by
// editing the bytes these return.
#ifndef KHOD_TESTS_SUPPORT_KHO_TREE_H_
#define KHOD_TESTS_SUPPORT_KHO_TREE_H_

#include <cstdint>
#include <string>
#include <vector>

namespace khod {

struct KhoNode {
  std::string name;                  // "LUO"
  std::string address_prop = "fdt";  // kho-v1's; "" for none
  uint64_t address = 0x100000000ull;
};

// KHO's root FDT: compatible (none when empty), preserved-memory-map, nodes.
std::string KhoRootFdt(const std::string& compatible, const std::vector<KhoNode>& nodes);
// LUO's FDT (include/linux/kho/abi/luo.h): luo-v1, liveupdate-number, luo-session.
std::string LuoFdt(uint64_t liveupdate_number);
// Writes <root>/kho/in/fdt and, per (name, bytes), in/sub_fdts/<name>.
void WriteKhoIn(const std::string& root, const std::string& fdt,
                const std::vector<std::pair<std::string, std::string>>& sub_fdts);

}  // namespace khod

#endif  // KHOD_TESTS_SUPPORT_KHO_TREE_H_
