#include "kernel/vma_policy.h"

#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <utility>

#include "kernel/bpf/vma_policy_record.h"
#include "kernel/kernel_dev.h"
#include "kernel/mempolicy_fields.h"

namespace khod {

namespace {

using Record = khod_vma_policy_record;
static_assert(sizeof(Record) == 216 && KHOD_VMA_POLICY_VERSION == 5,
              "the record layout changed: change KHOD_VMA_POLICY_VERSION, then this");

std::string Where(size_t index, const Record& r) {
  std::string s = "vma_policy record " + std::to_string(index);
  if (r.kind == KHOD_VMA_POLICY_KIND_VMA) {
    char range[48];
    std::snprintf(range, sizeof(range), " (%llx-%llx)", static_cast<unsigned long long>(r.start),
                  static_cast<unsigned long long>(r.end));
    s += range;
  }
  return s;
}

// The policy a record carries, as numa_maps prints it, with its home node (mempolicy_fields.h):
// default where the record has none; false where numa_maps would print no policy of ours.
bool PolicyOf(const Record& r, Mempolicy* out) {
  *out = Mempolicy();
  if ((r.flags & KHOD_VMA_POLICY_F_HAS_POLICY) == 0) return true;  // default
  MempolicyFields f;
  f.mode = r.mode;
  f.mode_flags = r.mode_flags;
  f.nodes.assign(r.nodes, r.nodes + r.node_bytes / sizeof(uint64_t));
  f.nodes_cut = (r.flags & KHOD_VMA_POLICY_F_NODES_CUT) != 0;
  f.has_home_node = (r.flags & KHOD_VMA_POLICY_F_HOME_NODE) != 0;
  f.home_node = r.home_node;
  std::optional<Mempolicy> p = MempolicyFromFields(f);
  if (!p) return false;
  *out = std::move(*p);
  return true;
}

// A record written by a program built from this layout.
bool OfThisLayout(const Record& r) {
  return r.magic == KHOD_VMA_POLICY_MAGIC && r.version == KHOD_VMA_POLICY_VERSION &&
         r.size == sizeof(Record);
}

}  // namespace

Result<std::vector<VmaPolicy>> DecodeVmaPolicyRecords(std::string_view bytes, pid_t pid) {
  const std::string proc = "process " + std::to_string(pid);
  if (bytes.empty())
    return Status::NotFound(proc + " has no address space (it exited, or is a kernel thread)");
  if (bytes.size() % sizeof(Record) != 0)
    return Status::Corruption("vma_policy records of " + proc + ": " +
                              std::to_string(bytes.size()) + " bytes are not whole " +
                              std::to_string(sizeof(Record)) + "-byte records");
  const size_t count = bytes.size() / sizeof(Record);
  std::vector<VmaPolicy> vmas;
  vmas.reserve(count - 1);
  Mempolicy task_policy;
  bool task_answered = false;
  uint64_t counted = 0;  // the task record's VMAs
  uint64_t seq = 0;
  uint32_t tgid = 0;  // as the kernel's initial pid namespace numbers it, not `pid`'s
  uint64_t prev_end = 0;
  for (size_t i = 0; i < count; ++i) {
    Record r;
    std::memcpy(&r, bytes.data() + i * sizeof(Record), sizeof(Record));
    const std::string where = Where(i, r);
    if (!OfThisLayout(r))
      return Status::Corruption(
          where + " of " + proc + ": magic " + std::to_string(r.magic) + " version " +
          std::to_string(r.version) + " size " + std::to_string(r.size) + ", expected " +
          std::to_string(KHOD_VMA_POLICY_MAGIC) + " version " +
          std::to_string(KHOD_VMA_POLICY_VERSION) + " size " + std::to_string(sizeof(Record)) +
          " (a program built from another layout)");
    if (i == 0) tgid = r.tgid;
    if (r.tgid != tgid)
      return Status::Corruption(where + " of " + proc + " is of process " + std::to_string(r.tgid) +
                                ", the records before it of " + std::to_string(tgid));
    if ((r.flags & KHOD_VMA_POLICY_F_NO_NUMA) != 0)
      return Status::Unsupported("the kernel has no NUMA mempolicy (CONFIG_NUMA is off)");
    if ((r.flags & KHOD_VMA_POLICY_F_LOCK_SEQ) == 0)
      return Status::Unsupported(
          "the kernel has no mm_lock_seq (CONFIG_PER_VMA_LOCK): a read of the mappings "
          "cannot be proven consistent");
    if (r.node_bytes > sizeof(r.nodes) || r.node_bytes % sizeof(uint64_t) != 0)
      return Status::Corruption(where + ": nodemask of " + std::to_string(r.node_bytes) + " bytes");
    if ((r.flags & KHOD_VMA_POLICY_F_HOME_NODE) != 0 &&
        (r.home_node < -1 || r.home_node >= kMaxNumaNodes))
      return Status::Corruption(where + ": home node " + std::to_string(r.home_node));
    if (i == 0) {
      if (r.kind != KHOD_VMA_POLICY_KIND_TASK)
        return Status::Corruption(where + " of " + proc + " is not the task's record");
      if ((r.flags & KHOD_VMA_POLICY_F_TASK_POLICY_CHANGED) != 0)
        return Status::Busy("the task policy of " + proc +
                            " changed while it was read (set_mempolicy)");
      seq = r.mm_seq;
      counted = r.vmas;
      task_answered = PolicyOf(r, &task_policy);
    } else if (r.kind != KHOD_VMA_POLICY_KIND_VMA) {
      return Status::Corruption(where + " of " + proc + ": kind " + std::to_string(r.kind) +
                                " where a VMA's record belongs");
    }
    if (r.mm_seq != seq || ((r.flags & KHOD_VMA_POLICY_F_SEQCOUNT) != 0 && (r.mm_seq & 1) != 0))
      return Status::Busy("the mappings of " + proc + " changed during the read (mm_lock_seq " +
                          std::to_string(seq) + " then " + std::to_string(r.mm_seq) + ")");
    if (i == 0) continue;
    if (r.start >= r.end || r.start < prev_end)
      return Status::Corruption(where + " of " + proc + " is empty or not after the VMA before it");
    prev_end = r.end;
    VmaPolicy v;
    v.start = r.start;
    v.end = r.end;
    v.pgoff = r.pgoff;
    v.shared = (r.flags & KHOD_VMA_POLICY_F_MAY_SHARE) != 0;
    if ((r.flags & KHOD_VMA_POLICY_F_FILE) != 0) {
      v.dev = UserDevOfKernelDev(r.dev);
      v.inode = r.ino;
    }
    if ((r.flags & KHOD_VMA_POLICY_F_GET_POLICY) != 0) {
      v.answered = false;
    } else if ((r.flags & KHOD_VMA_POLICY_F_HAS_POLICY) != 0) {
      v.answered = PolicyOf(r, &v.policy);
    } else {
      v.answered = task_answered;
      v.policy = task_policy;
    }
    if (!v.answered) v.policy = Mempolicy();
    vmas.push_back(std::move(v));
  }
  if (vmas.empty()) return Status::Corruption("vma_policy records of " + proc + ": no VMA");
  if (vmas.size() != counted)
    return Status::Corruption("vma_policy records of " + proc + ": the task's record counts " +
                              std::to_string(counted) + " VMAs, the read holds " +
                              std::to_string(vmas.size()));
  return vmas;
}

std::optional<size_t> VmaPolicyReadBytes(std::string_view bytes) {
  if (bytes.size() < sizeof(Record)) return std::nullopt;
  Record task;
  std::memcpy(&task, bytes.data(), sizeof(Record));
  if (!OfThisLayout(task) || task.kind != KHOD_VMA_POLICY_KIND_TASK) return std::nullopt;
  if (task.vmas >= std::numeric_limits<size_t>::max() / sizeof(Record)) return std::nullopt;
  return static_cast<size_t>(task.vmas + 1) * sizeof(Record);
}

}  // namespace khod
