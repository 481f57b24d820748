// libFuzzer target for DecodeVmaPolicyRecords (kernel/vma_policy.h): the input is
// one read of the BPF program's output, whole khod_vma_policy_record structs
// (kernel/bpf/vma_policy_record.h: a task record, then one per VMA), decoded for
// a fixed pid (the pid only names the process in messages).
// Oracle: a refusal carries a message; an accepted read has one VMA per record
// after the task's, each with its record's range, offset and (only when the
// record says it has a file) file; the VMAs are non-empty and in strictly
// increasing, non-overlapping address order; a VMA not answered (a get_policy
// op decides it, or numa_maps would print no policy of ours) has the default
// Mempolicy; an answered one has a mode numa_maps prints, nodes only for the
// modes that print them, no trailing zero word in its nodemask, of the mode
// flags only static or relative (never both) and balancing, and a home node seen,
// -1 or a node: its record's where the record carries the VMA's own policy with
// one (KHOD_VMA_POLICY_F_HOME_NODE), else -1. The reader's size
// of a whole read (VmaPolicyReadBytes), from the task's record alone, is the
// accepted read's. A violation aborts.
#include <linux/mempolicy.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/oracle.h"
#include "kernel/bpf/vma_policy_record.h"
#include "kernel/vma_policy.h"

namespace khod {
namespace {

constexpr pid_t kPid = 4242;
constexpr uint32_t kShownFlags =
    MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES | MPOL_F_NUMA_BALANCING;
// Newer than Debian 12's <linux/mempolicy.h> (as kernel/vma_policy.cc names them).
constexpr int kPreferredMany = 5;       // MPOL_PREFERRED_MANY
constexpr int kWeightedInterleave = 6;  // MPOL_WEIGHTED_INTERLEAVE

[[noreturn]] void Fail(const std::string& what, std::string_view detail = {}) {
  OracleFail("vma policy", what, detail);
}

std::string Range(const VmaPolicy& v) {
  char b[48];
  std::snprintf(b, sizeof b, "%llx-%llx", static_cast<unsigned long long>(v.start),
                static_cast<unsigned long long>(v.end));
  return b;
}

bool PrintsNodes(int mode) {
  return mode == MPOL_PREFERRED || mode == MPOL_BIND || mode == MPOL_INTERLEAVE ||
         mode == kPreferredMany || mode == kWeightedInterleave;
}

void CheckPolicy(const VmaPolicy& v) {
  const Mempolicy& p = v.policy;
  if (!v.answered) {
    if (!(p == Mempolicy()))
      Fail("a VMA not answered has a policy other than the default", Range(v));
    return;
  }
  if (!PrintsNodes(p.mode) && p.mode != MPOL_DEFAULT && p.mode != MPOL_LOCAL)
    Fail("an answered VMA has mode " + std::to_string(p.mode), Range(v));
  if (!PrintsNodes(p.mode) && !p.nodemask.empty())
    Fail("an answered VMA of mode " + std::to_string(p.mode) + " has nodes", Range(v));
  if (!p.nodemask.empty() && p.nodemask.back() == 0)
    Fail("an answered VMA's nodemask ends in a zero word", Range(v));
  if (p.nodemask.size() > KHOD_VMA_POLICY_NODE_WORDS)
    Fail("an answered VMA's nodemask is wider than a record's", Range(v));
  if ((p.mode_flags & ~kShownFlags) != 0)
    Fail("an answered VMA has mode flags " + std::to_string(p.mode_flags), Range(v));
  if ((p.mode_flags & MPOL_F_STATIC_NODES) != 0 && (p.mode_flags & MPOL_F_RELATIVE_NODES) != 0)
    Fail("an answered VMA's nodes are both static and relative", Range(v));
  if (!p.home_node_seen) Fail("an answered VMA's home node is not seen", Range(v));
  if (p.home_node < -1 || p.home_node >= KHOD_VMA_POLICY_NODE_WORDS * 64)
    Fail("an answered VMA has home node " + std::to_string(p.home_node), Range(v));
}

}  // namespace
}  // namespace khod

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using khod::Fail;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const khod::Result<std::vector<khod::VmaPolicy>> decoded =
      khod::DecodeVmaPolicyRecords(bytes, khod::kPid);
  khod::RequireMessage("vma policy", decoded.status(), "DecodeVmaPolicyRecords");
  // The reader asks for as many bytes as a whole read holds: those the decoder takes.
  if (decoded.ok()) {
    const std::optional<size_t> whole = khod::VmaPolicyReadBytes(bytes);
    if (whole != std::optional<size_t>(size))
      Fail("an accepted read of " + std::to_string(size) + " bytes is " +
           (whole ? std::to_string(*whole) : std::string("unknown")) + " to the reader");
    if (khod::VmaPolicyReadBytes(bytes.substr(0, sizeof(khod_vma_policy_record))) != whole)
      Fail("the task's record alone tells the reader another size");
  }
  if (!decoded.ok()) return 0;
  const std::vector<khod::VmaPolicy>& vmas = decoded.value();
  constexpr size_t kRecord = sizeof(khod_vma_policy_record);
  if (size % kRecord != 0 || vmas.empty() || vmas.size() != size / kRecord - 1)
    Fail("accepted " + std::to_string(size) + " bytes as " + std::to_string(vmas.size()) + " VMAs");
  for (size_t i = 0; i < vmas.size(); ++i) {
    const khod::VmaPolicy& v = vmas[i];
    khod_vma_policy_record r;
    std::memcpy(&r, data + (i + 1) * kRecord, kRecord);
    if (v.start != r.start || v.end != r.end || v.pgoff != r.pgoff)
      Fail("VMA " + std::to_string(i) + " is not its record's range", khod::Range(v));
    if (v.start >= v.end) Fail("an empty VMA", khod::Range(v));
    if (i > 0 && v.start < vmas[i - 1].end)
      Fail("VMAs out of address order or overlapping",
           khod::Range(vmas[i - 1]) + " then " + khod::Range(v));
    if ((r.flags & KHOD_VMA_POLICY_F_FILE) == 0 && (v.dev != 0 || v.inode != 0))
      Fail("an anonymous VMA has a file", khod::Range(v));
    if ((r.flags & KHOD_VMA_POLICY_F_GET_POLICY) != 0 && v.answered)
      Fail("a VMA its get_policy op decides is answered", khod::Range(v));
    khod::CheckPolicy(v);
    const bool own = (r.flags & KHOD_VMA_POLICY_F_HAS_POLICY) != 0;
    const int32_t home = (r.flags & KHOD_VMA_POLICY_F_HOME_NODE) != 0 ? r.home_node : -1;
    if (v.answered && own && v.policy.home_node != home)
      Fail("VMA " + std::to_string(i) + " has home node " + std::to_string(v.policy.home_node) +
               ", its record " + std::to_string(home),
           khod::Range(v));
  }
  return 0;
}
