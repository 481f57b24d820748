#include "restore/policy_restore.h"

#include <sys/mman.h>
#include <sys/stat.h>

#include <cerrno>
#include <optional>

#include "kernel/mapping.h"
#include "kernel/mempolicy.h"
#include "kernel/mempolicy_text.h"
#include "kernel/shared_policy.h"
#include "kernel/shared_policy_cache.h"
#include "kernel/shared_policy_probe.h"
#include "state/merged_mappings.h"

namespace khod {

namespace {

// What is handed to the VMM is bounded (kMaxRangesForVmm), as every GmemInfo
// of a StatusReply carries it: a VMM that maps its file in tens of thousands
// of mappings of alternating policies would otherwise push the reply past
// gRPC's 4 MiB, for every client. The note names the first few ranges.
constexpr size_t kRangesNamed = 8;

std::string RangesText(const std::vector<MappingPolicy>& v) {
  std::string s;
  for (size_t i = 0; i < v.size() && i < kRangesNamed; ++i) {
    const MappingPolicy& m = v[i];
    s += (s.empty() ? "" : ", ") + std::string("pages ") + std::to_string(m.first_index) + "-" +
         std::to_string(m.end_index() - 1) + " " + MempolicyToString(m.policy);
  }
  if (v.size() > kRangesNamed) s += ", and " + std::to_string(v.size() - kRangesNamed) + " more";
  return s;
}

PolicyRestore HandMappingsToVmm(const GuestMemfd& g, uint32_t page_size) {
  PolicyRestore r;
  // Mappings, not VMAs: a split one counts once, as Verify's "handed to the VMM" counts it.
  const size_t mappings = MappingsWithPolicy(g.mapping_policies, page_size);
  size_t left_out = 0;
  r.for_vmm = MappingPoliciesForVmm(g, &left_out);
  if (r.for_vmm.empty()) return r;
  r.outcome = PolicyRestore::Outcome::kHandedToVmm;
  std::string cut;
  if (left_out)
    cut = "; only the first " + std::to_string(kMaxRangesForVmm) + " of " +
          std::to_string(kMaxRangesForVmm + left_out) +
          " ranges are handed on (a status carries no more): the others are not restored, and "
          "Verify names them not handed on";
  r.note = "NUMA policy handed to the VMM to mbind on its mappings (it lived in the VMM's " +
           std::to_string(mappings) + " mapping(s), not in the file): " + RangesText(r.for_vmm) +
           cut;
  return r;
}

PolicyRestore Unknown() {
  PolicyRestore r;
  r.outcome = PolicyRestore::Outcome::kNotRestored;
  r.note = "NUMA policy not restored: it was not read at capture";
  return r;
}

// The inode policy, for the VMM's mappings because the file keeps none.
PolicyRestore HandInodePolicyToVmm(const GuestMemfd& g, uint32_t page_size,
                                   const std::string& why) {
  PolicyRestore r;
  r.outcome = PolicyRestore::Outcome::kHandedToVmm;
  r.for_vmm.push_back(MappingPolicy{0, g.pages(page_size), 0, 0, g.policy});
  r.note = "NUMA policy handed to the VMM to mbind on its mappings (" + why +
           "): " + RangesText(r.for_vmm);
  return r;
}

// A policy that was not the file's (read from the VMM's mappings, or not
// read at all); nullopt for an inode policy.
std::optional<PolicyRestore> NotTheFiles(const GuestMemfd& g, uint32_t page_size) {
  switch (g.policy_source) {
    case PolicySource::kUnknown:
      return Unknown();
    case PolicySource::kVmmMappings:
      return HandMappingsToVmm(g, page_size);
    case PolicySource::kInode:
      break;
  }
  return std::nullopt;
}

// The shared policy tree of `fd`, a file of `g`'s kind this process holds: a shmem file's,
// where khod's BPF reader loads (kernel/shared_policy_iter.h), from `round`'s one read where
// it saw the file (a Restore's adopted files: one read for all), else read now. Unsupported
// for another kind, else why it cannot be read.
Result<SharedPolicyTree> TreeReadNow(int fd, const GuestMemfd& g,
                                     SharedPolicyCache* round = nullptr) {
  if (g.kind != FileKind::kShmemMemfd)
    return Status::Unsupported(
        std::string("khod reads the shared policy of shmem files only, not ") +
        FileKindName(g.kind) + "'s");
  struct stat st;
  if (::fstat(fd, &st) != 0) return Status::FromErrno("fstat fd " + std::to_string(fd), errno);
  const uint64_t dev = static_cast<uint64_t>(st.st_dev), ino = static_cast<uint64_t>(st.st_ino);
  if (round) {
    Result<SharedPolicyTree> seen = round->Of(dev, ino);
    if (seen.ok() || seen.status().code() != Status::Code::kNotFound) return seen;
  }
  SharedPolicyCache now;
  return now.Of(dev, ino);
}

// After the mbind (and set_mempolicy_home_node, `home_node` its answer): the file's
// shared policy read back whole from the inode's tree (kernel/shared_policy.h), home node
// included; nullopt where the tree cannot be read (no BPF reader, not a shmem file), for
// the caller's read through a second mapping.
std::optional<PolicyRestore> ReadBackWhole(int fd, const GuestMemfd& g, uint32_t page_size,
                                           const Status& home_node) {
  Result<SharedPolicyTree> tree = TreeReadNow(fd, g);
  if (!tree.ok()) return std::nullopt;
  PolicyRestore r;
  const std::string want = MempolicyToString(g.policy);
  Result<Mempolicy> got = WholeFilePolicy(*tree, g.size / page_size);
  const int32_t home_set = g.policy.home_node >= 0 && home_node.ok() ? g.policy.home_node : -1;
  if (got.ok() && SameModeAndNodes(*got, g.policy) && got->home_node == home_set) {
    r.outcome = PolicyRestore::Outcome::kReapplied;
    r.note = "NUMA policy re-applied to the file and read back whole from its shared policy: " +
             MempolicyToString(*got);
    if (g.policy.home_node >= 0 && !home_node.ok())
      r.note += "; its home node not set: " + home_node.message();
    else if (!g.policy.home_node_seen)
      r.note += "; its home node, not seen at capture, not set";
    return r;
  }
  r.outcome = PolicyRestore::Outcome::kNotRestored;
  r.note = "NUMA policy " + want + " set but its shared policy reads back " +
           (got.ok() ? MempolicyToString(*got) : got.status().message());
  return r;
}

}  // namespace

std::vector<MappingPolicy> MappingPoliciesForVmm(const GuestMemfd& frozen, size_t* left_out) {
  std::vector<MappingPolicy> v;
  for (const MappingPolicy& m : frozen.mapping_policies) {
    if (m.policy.mode == 0) continue;
    if (!v.empty() && v.back().end_index() == m.first_index && v.back().policy == m.policy) {
      v.back().count += m.count;
      continue;
    }
    v.push_back(m);
  }
  *left_out = v.size() > kMaxRangesForVmm ? v.size() - kMaxRangesForVmm : 0;
  if (*left_out) v.resize(kMaxRangesForVmm);
  return v;
}

const char* PolicyOutcomeName(PolicyRestore::Outcome o) {
  switch (o) {
    case PolicyRestore::Outcome::kNothing:
      return "nothing";
    case PolicyRestore::Outcome::kKept:
      return "kept";
    case PolicyRestore::Outcome::kReapplied:
      return "re-applied";
    case PolicyRestore::Outcome::kHandedToVmm:
      return "handed to the VMM";
    case PolicyRestore::Outcome::kNotRestored:
      return "not restored";
  }
  return "?";
}

// "Kept" only as read: the adopted file's inode policy is what it is now, which a VMM (or
// anyone holding the file) may have changed since the frozen capture; khod re-applies
// nothing to it. So it says "kept" with the policy it read back, the policy it now reads
// where that differs, and names no policy where it read none.
PolicyRestore PolicyOfAdopted(int fd, const GuestMemfd& g, uint32_t page_size,
                              SharedPolicyCache* round) {
  if (std::optional<PolicyRestore> r = NotTheFiles(g, page_size)) return *r;
  PolicyRestore r;
  if (g.policy.mode == 0) return r;
  r.outcome = PolicyRestore::Outcome::kNotRestored;
  // The same whole-file read as a rebuild's read-back (ReadBackWhole).
  Result<SharedPolicyTree> tree = TreeReadNow(fd, g, round);
  if (!tree.ok()) {
    r.note =
        "NUMA policy not re-applied: the adopted file keeps its own; Verify compares it (its "
        "shared policy not read back: " +
        tree.status().message() + ")";
    return r;
  }
  Result<Mempolicy> now = WholeFilePolicy(*tree, g.size / page_size);
  const std::string had = MempolicyToString(g.policy);
  if (!now.ok()) {
    r.note = "NUMA policy of the adopted file not read back as one policy (" +
             now.status().message() + "), the frozen file had " + had + ": Verify compares it";
    return r;
  }
  // As Verify compares an inode policy: mode, flags and nodes, and the home node where both
  // reads saw it.
  const bool same =
      SameModeAndNodes(*now, g.policy) &&
      (!now->home_node_seen || !g.policy.home_node_seen || now->home_node == g.policy.home_node);
  if (same) {
    r.outcome = PolicyRestore::Outcome::kKept;
    r.note = "NUMA policy kept by the adopted file (read back: " + MempolicyToString(*now) + ")";
    return r;
  }
  r.note = "NUMA policy of the adopted file now reads " + MempolicyToString(*now) +
           ", the frozen file had " + had + ": Verify compares it";
  return r;
}

PolicyRestore RestorePolicy(int fd, const GuestMemfd& g, uint32_t page_size) {
  if (std::optional<PolicyRestore> r = NotTheFiles(g, page_size)) return *r;
  PolicyRestore r;
  if (g.policy.mode == 0 || g.size == 0) return r;
  r.outcome = PolicyRestore::Outcome::kNotRestored;
  const std::string want = MempolicyToString(g.policy);
  Result<bool> mappable = IsMappable(fd, g.size);
  if (!mappable.ok() || !*mappable) {
    // Nobody can map it (guest_memfd without MMAP): neither khod nor the VMM can set it.
    r.note = "NUMA policy " + want + " not restored: the file cannot be mapped to set it (" +
             (mappable.ok() ? std::string("mmap: ENODEV") : mappable.status().message()) + ")";
    return r;
  }
  {
    const SharedPolicyProbe& probe = SharedPolicyOf(g.kind);
    if (probe.answer != SharedPolicyAnswer::kYes)
      return HandInodePolicyToVmm(g, page_size,
                                  std::string("this kernel's ") + FileKindName(g.kind) +
                                      " keeps no shared policy: probe " +
                                      SharedPolicyAnswerName(probe.answer) + ", " + probe.evidence);
  }
  Status home_node;  // of set_mempolicy_home_node, where the frozen policy has a home node
  {
    Result<Mapping> m = Mapping::Map(fd, 0, g.size, PROT_NONE);
    if (!m.ok()) {
      r.note = "NUMA policy " + want + " not restored: the file cannot be mapped to set it (" +
               m.status().message() + ")";
      return r;
    }
    Mempolicy mode_and_nodes = g.policy;
    mode_and_nodes.home_node = -1;  // set on its own below, once the mbind stands
    Status s = SetMempolicy(m->data(), m->length(), mode_and_nodes);
    if (!s.ok()) {
      r.note = "NUMA policy " + want + " not restored: " + s.message();
      return r;
    }
    if (g.policy.home_node >= 0)
      home_node = SetMempolicyHomeNode(m->data(), m->length(), g.policy.home_node);
  }  // that mapping is gone: only a shared policy outlives it
  // A shmem file's whole shared policy, home node included, as the capture reads it.
  if (std::optional<PolicyRestore> whole = ReadBackWhole(fd, g, page_size, home_node))
    return *whole;
  Result<Mapping> again = Mapping::Map(fd, 0, g.size, PROT_NONE);
  Result<Mempolicy> read =
      again.ok() ? GetMempolicyAt(again->data()) : Result<Mempolicy>(again.status());
  if (!read.ok()) {
    r.note = "NUMA policy " + want + " set but not read back: " + read.status().message();
    return r;
  }
  const Mempolicy& got = *read;
  if (SameModeAndNodes(got, g.policy)) {
    r.outcome = PolicyRestore::Outcome::kReapplied;
    r.note = "NUMA policy re-applied to the file and read back through another mapping: " + want;
    // The kernel shows no home node to read back (kernel/memory_facts.h).
    if (g.policy.home_node >= 0 && home_node.ok())
      r.note += "; its home node set with set_mempolicy_home_node, which nothing reads back";
    else if (g.policy.home_node >= 0)
      r.note += "; its home node not set: " + home_node.message();
    else if (!g.policy.home_node_seen)
      r.note += "; its home node, not seen at capture, not set";
    return r;
  }
  return HandInodePolicyToVmm(
      g, page_size,
      "mbind did not stick to the file: a second mapping reads " + MempolicyToString(got));
}

}  // namespace khod
