// A NUMA policy as text: the one spelling khod uses for a policy in errors,
// verdicts, status and `khoctl inspect`.
#ifndef KHOD_KERNEL_MEMPOLICY_TEXT_H_
#define KHOD_KERNEL_MEMPOLICY_TEXT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "kernel/memory_facts.h"

namespace khod {

// "default", "preferred", "bind", "interleave", "local", "preferred-many",
// "weighted-interleave"; "mode N" for a mode this build does not name.
std::string MempolicyModeName(int32_t mode);

// The set nodes as ranges, as numa_maps prints them: "0-3,8"; "" for none.
std::string NodeListText(const std::vector<uint64_t>& nodemask);

// "default", "interleave nodes=0-1", "bind static nodes=0 home=1": the mode,
// its flags by name (unnamed bits as "flags=0x.."), the nodes, and the home
// node where one was seen; " home=?" where the mode can hold a home node that
// was not seen.
std::string MempolicyToString(const Mempolicy& p);

}  // namespace khod

#endif  // KHOD_KERNEL_MEMPOLICY_TEXT_H_
