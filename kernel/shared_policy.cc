#include "kernel/shared_policy.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>
#include <utility>

#include "kernel/bpf/shared_policy_record.h"
#include "kernel/kernel_dev.h"
#include "kernel/mempolicy_fields.h"
#include "kernel/mempolicy_text.h"

namespace khod {

namespace {

using Record = khod_shared_policy_record;
static_assert(sizeof(Record) == 200 && KHOD_SHARED_POLICY_VERSION == 1,
              "the record layout changed: change KHOD_SHARED_POLICY_VERSION, then this");

bool OfThisLayout(const Record& r) {
  return r.magic == KHOD_SHARED_POLICY_MAGIC && r.version == KHOD_SHARED_POLICY_VERSION &&
         r.size == sizeof(Record);
}

std::string RangeText(uint64_t start, uint64_t end) {
  return "pages " + std::to_string(start) + "-" + std::to_string(end - 1);
}

}  // namespace

Result<std::vector<SharedPolicyTree>> DecodeSharedPolicyRecords(std::string_view bytes, pid_t pid) {
  const std::string proc = "process " + std::to_string(pid);
  if (bytes.size() % sizeof(Record) != 0)
    return Status::Corruption("shared_policy records of " + proc + ": " +
                              std::to_string(bytes.size()) + " bytes are not whole " +
                              std::to_string(sizeof(Record)) + "-byte records");
  const size_t count = bytes.size() / sizeof(Record);
  std::map<std::pair<uint64_t, uint64_t>, SharedPolicyTree> files;  // by (dev, inode)
  uint32_t tgid = 0;
  for (size_t i = 0; i < count;) {
    Record f;
    std::memcpy(&f, bytes.data() + i * sizeof(Record), sizeof(Record));
    const std::string where = "shared_policy record " + std::to_string(i) + " of " + proc;
    if (!OfThisLayout(f))
      return Status::Corruption(where + ": magic " + std::to_string(f.magic) + " version " +
                                std::to_string(f.version) + " size " + std::to_string(f.size) +
                                " (a program built from another layout)");
    if (i == 0) tgid = f.tgid;
    if (f.tgid != tgid)
      return Status::Corruption(where + " is of process " + std::to_string(f.tgid) +
                                ", the records before it of " + std::to_string(tgid));
    if (f.kind != KHOD_SHARED_POLICY_KIND_FILE)
      return Status::Corruption(where + ": kind " + std::to_string(f.kind) +
                                " where a file's record belongs");
    if ((f.flags & KHOD_SHARED_POLICY_F_NO_NUMA) != 0)
      return Status::Unsupported("the kernel has no NUMA mempolicy (CONFIG_NUMA is off)");
    if (f.ranges > KHOD_SHARED_POLICY_MAX_RANGES || f.ranges > count - i - 1)
      return Status::Corruption(where + ": " + std::to_string(f.ranges) +
                                " range records, past the read or the program's bound");
    SharedPolicyTree t;
    t.dev = UserDevOfKernelDev(f.dev);
    t.inode = f.ino;
    t.cut = (f.flags & KHOD_SHARED_POLICY_F_CUT) != 0;
    if (t.cut && f.ranges != 0)
      return Status::Corruption(where + ": a cut tree with range records");
    uint64_t prev_end = 0;
    for (uint32_t k = 1; k <= f.ranges; ++k) {
      Record r;
      std::memcpy(&r, bytes.data() + (i + k) * sizeof(Record), sizeof(Record));
      const std::string at = "shared_policy record " + std::to_string(i + k) + " of " + proc;
      if (!OfThisLayout(r) || r.kind != KHOD_SHARED_POLICY_KIND_RANGE || r.tgid != tgid ||
          r.fd != f.fd || r.ino != f.ino || r.dev != f.dev)
        return Status::Corruption(at + " is not a range of the file record " + std::to_string(i));
      if (r.start >= r.end || (k > 1 && r.start < prev_end))
        return Status::Corruption(at + ": " + "range " + std::to_string(r.start) + "-" +
                                  std::to_string(r.end) +
                                  " is empty or not after the range before it");
      prev_end = r.end;
      if ((r.flags & KHOD_SHARED_POLICY_F_NO_POLICY) != 0)
        return Status::Corruption(at + ": a range without a policy");
      if (r.node_bytes > sizeof(r.nodes) || r.node_bytes % sizeof(uint64_t) != 0)
        return Status::Corruption(at + ": nodemask of " + std::to_string(r.node_bytes) + " bytes");
      if ((r.flags & KHOD_SHARED_POLICY_F_HOME_NODE) != 0 &&
          (r.home_node < -1 || r.home_node >= kMaxNumaNodes))
        return Status::Corruption(at + ": home node " + std::to_string(r.home_node));
      MempolicyFields fields;
      fields.mode = r.mode;
      fields.mode_flags = r.mode_flags;
      fields.nodes.assign(r.nodes, r.nodes + r.node_bytes / sizeof(uint64_t));
      fields.nodes_cut = (r.flags & KHOD_SHARED_POLICY_F_NODES_CUT) != 0;
      fields.has_home_node = (r.flags & KHOD_SHARED_POLICY_F_HOME_NODE) != 0;
      fields.home_node = r.home_node;
      std::optional<Mempolicy> p = MempolicyFromFields(fields);
      if (!p)
        return Status::Corruption(at + ": mode " + std::to_string(r.mode) +
                                  " or its nodemask is not one numa_maps prints");
      t.ranges.push_back(SharedPolicyRange{r.start, r.end, std::move(*p)});
    }
    i += 1 + f.ranges;
    const auto key = std::make_pair(t.dev, t.inode);
    auto [it, added] = files.emplace(key, t);
    if (!added && (it->second.cut != t.cut || it->second.ranges.size() != t.ranges.size() ||
                   !std::equal(t.ranges.begin(), t.ranges.end(), it->second.ranges.begin(),
                               [](const SharedPolicyRange& a, const SharedPolicyRange& b) {
                                 return a.start == b.start && a.end == b.end &&
                                        a.policy == b.policy;
                               })))
      return Status::Busy("the shared policy of inode " + std::to_string(t.inode) + " of " + proc +
                          " read differently at two fds (it changed during the read)");
  }
  std::vector<SharedPolicyTree> out;
  out.reserve(files.size());
  for (auto& [key, t] : files) out.push_back(std::move(t));
  return out;
}

Result<Mempolicy> WholeFilePolicy(const SharedPolicyTree& tree, uint64_t pages) {
  if (tree.cut)
    return Status::FailedPrecondition(
        "its shared policy has more than " + std::to_string(KHOD_SHARED_POLICY_MAX_RANGES) +
        " ranges: its pages do not all have one policy that khod could read");
  // The ranges that hold pages of the file, cut at its end.
  std::vector<SharedPolicyRange> within;
  for (const SharedPolicyRange& r : tree.ranges)
    if (r.start < pages) within.push_back({r.start, std::min(r.end, pages), r.policy});
  if (within.empty()) return Mempolicy();  // no range: every page's policy is default
  bool one = within.front().start == 0 && within.back().end == pages;
  for (size_t i = 1; one && i < within.size(); ++i)
    one = within[i].start == within[i - 1].end && within[i].policy == within[0].policy;
  if (one) return within.front().policy;
  std::string ranges;
  size_t shown = 0;
  for (const SharedPolicyRange& r : within) {
    if (shown++ == 4) {
      ranges += ", ...";
      break;
    }
    ranges += (ranges.empty() ? "" : ", ") + RangeText(r.start, r.end) + " " +
              MempolicyToString(r.policy);
  }
  return Status::FailedPrecondition(
      "its pages do not all have one policy (a blob keeps one per file): its shared policy "
      "holds " +
      ranges + ", default elsewhere of its " + std::to_string(pages) + " pages");
}

}  // namespace khod
