// /proc/PID/numa_maps: one line per mapping, "START POLICY key=value...".
// POLICY is the kernel's mpol_to_str(): MODE[=FLAGS][:NODELIST], where MODE is
// default, prefer, bind, interleave, local, "weighted interleave" or
// "prefer (many)" (the last two hold a space), FLAGS is static, relative
// and/or balancing joined by '|', and NODELIST is like 0-1,3.
// A mapping without a policy of its own shows its process's task policy
// (show_numa_map falls back to it): the policy its faults follow.
#ifndef KHOD_KERNEL_NUMA_MAPS_H_
#define KHOD_KERNEL_NUMA_MAPS_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/status.h"
#include "kernel/memory_facts.h"

namespace khod {

struct NumaMapsEntry {
  uint64_t start = 0;  // the mapping's start address (joins /proc/PID/maps)
  // numa_maps does not show the home node: home_node is -1, not seen where the mode can
  // hold one (ModeCanHaveHomeNode).
  Mempolicy policy;
};

// show_numa_map() prints POLICY into a 64-byte buffer: the kernel cuts a longer
// one (mid-nodelist, where the cut still parses as another nodelist) to its
// 63 characters, so a POLICY of exactly kNumaMapsPolicyCut characters is not
// taken as a policy, and a longer one is not the kernel's.
constexpr size_t kNumaMapsPolicyCut = 63;

// Parses POLICY as numa_maps prints it ("bind:0", "interleave=static:0-1"):
// home_node -1, seen only where the mode cannot hold one.
// Unsupported when it is kNumaMapsPolicyCut characters (it may have been
// cut); InvalidArgument naming what is wrong otherwise.
Result<Mempolicy> ParseNumaMapsPolicy(std::string_view text);

// Parses one whole line: Unsupported, as ParseNumaMapsPolicy, when its policy
// may have been cut.
Result<NumaMapsEntry> ParseNumaMapsLine(std::string_view line);

}  // namespace khod

#endif  // KHOD_KERNEL_NUMA_MAPS_H_
