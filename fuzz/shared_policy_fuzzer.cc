// libFuzzer target for DecodeSharedPolicyRecords and WholeFilePolicy (kernel/shared_policy.h):
// the input is one read of the BPF program's output, whole khod_shared_policy_record structs
// (kernel/bpf/shared_policy_record.h: for each shmem file a file record, then one per range of
// its shared policy), decoded for a fixed pid (the pid only names the process in messages).
// Oracle: a refusal carries a message and is Corruption, Busy or Unsupported; an accepted read
// is whole records and has one tree per (dev, inode) of its file records (in (dev, inode)
// order, dev as userspace encodes it), each with the ranges of the first file record of that
// inode, at most KHOD_SHARED_POLICY_MAX_RANGES, none when cut, non-empty, in order and
// disjoint; each range's policy is one numa_maps prints (its record's mode, nodes only for the
// modes that print them, no trailing zero word, of the mode flags only static or relative
// (never both) and balancing) with its home node seen, -1 or a node below 1024: its record's
// where the record carries one (KHOD_SHARED_POLICY_F_HOME_NODE), else -1. WholeFilePolicy of
// each tree, for page counts at and around its ranges' ends and a few drawn from the input,
// agrees with a reference that cuts the file at every range end: FailedPrecondition (with a
// message naming a range) when cut or when its pages are neither all without a range nor all
// in ranges of one policy, else default or that policy. A violation aborts.
#include <linux/mempolicy.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fuzz/oracle.h"
#include "kernel/bpf/shared_policy_record.h"
#include "kernel/shared_policy.h"

namespace khod {
namespace {

using Record = khod_shared_policy_record;
constexpr pid_t kPid = 4242;
constexpr size_t kRecord = sizeof(Record);
constexpr uint32_t kShownFlags =
    MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES | MPOL_F_NUMA_BALANCING;
// Newer than Debian 12's <linux/mempolicy.h> (as kernel/mempolicy_fields.cc names them).
constexpr int kPreferredMany = 5;       // MPOL_PREFERRED_MANY
constexpr int kWeightedInterleave = 6;  // MPOL_WEIGHTED_INTERLEAVE

[[noreturn]] void Fail(const std::string& what, std::string_view detail = {}) {
  OracleFail("shared policy", what, detail);
}

std::string Where(const SharedPolicyTree& t, size_t range = SIZE_MAX) {
  std::string s = "inode " + std::to_string(t.inode) + " dev " + std::to_string(t.dev);
  if (range < t.ranges.size())
    s += " range " + std::to_string(t.ranges[range].start) + "-" +
         std::to_string(t.ranges[range].end);
  return s;
}

bool PrintsNodes(int mode) {
  return mode == MPOL_PREFERRED || mode == MPOL_BIND || mode == MPOL_INTERLEAVE ||
         mode == kPreferredMany || mode == kWeightedInterleave;
}

// A range's policy against its record.
void CheckPolicy(const SharedPolicyTree& t, size_t i, const Record& r) {
  const Mempolicy& p = t.ranges[i].policy;
  if (!PrintsNodes(p.mode) && p.mode != MPOL_DEFAULT && p.mode != MPOL_LOCAL)
    Fail("a range has mode " + std::to_string(p.mode), Where(t, i));
  if (p.mode != r.mode) Fail("a range's mode is not its record's", Where(t, i));
  if (!PrintsNodes(p.mode) && !p.nodemask.empty())
    Fail("a range of mode " + std::to_string(p.mode) + " has nodes", Where(t, i));
  if (!p.nodemask.empty() && p.nodemask.back() == 0)
    Fail("a range's nodemask ends in a zero word", Where(t, i));
  if (p.nodemask.size() > r.node_bytes / sizeof(uint64_t))
    Fail("a range's nodemask is wider than its record filled", Where(t, i));
  for (size_t w = 0; w < p.nodemask.size(); ++w)
    if (p.nodemask[w] != r.nodes[w]) Fail("a range's nodes are not its record's", Where(t, i));
  if ((p.mode_flags & ~kShownFlags) != 0)
    Fail("a range has mode flags " + std::to_string(p.mode_flags), Where(t, i));
  if ((p.mode_flags & MPOL_F_STATIC_NODES) != 0 && (p.mode_flags & MPOL_F_RELATIVE_NODES) != 0)
    Fail("a range's nodes are both static and relative", Where(t, i));
  if (!p.home_node_seen) Fail("a range's home node is not seen", Where(t, i));
  if (p.home_node < -1 || p.home_node >= KHOD_SHARED_POLICY_NODE_WORDS * 64)
    Fail("a range has home node " + std::to_string(p.home_node), Where(t, i));
  const int32_t home = (r.flags & KHOD_SHARED_POLICY_F_HOME_NODE) != 0 ? r.home_node : -1;
  if (p.home_node != home)
    Fail("a range has home node " + std::to_string(p.home_node) + ", its record " +
             std::to_string(home),
         Where(t, i));
}

// WholeFilePolicy's answer as the pages have it: the file cut at 0, `pages` and every range
// end inside it, each piece in one range or in none. nullopt: not one policy.
std::optional<Mempolicy> ReferenceWholeFilePolicy(const SharedPolicyTree& t, uint64_t pages) {
  if (t.cut) return std::nullopt;
  std::vector<uint64_t> cuts = {0, pages};
  for (const SharedPolicyRange& r : t.ranges)
    for (uint64_t x : {r.start, r.end})
      if (x < pages) cuts.push_back(x);
  std::sort(cuts.begin(), cuts.end());
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
  bool any_bare = false;
  const Mempolicy* in_ranges = nullptr;
  for (size_t i = 0; i + 1 < cuts.size(); ++i) {
    const uint64_t a = cuts[i];
    const SharedPolicyRange* covering = nullptr;
    for (const SharedPolicyRange& r : t.ranges)
      if (r.start <= a && a < r.end) covering = &r;
    if (covering == nullptr) {
      any_bare = true;
    } else if (in_ranges == nullptr) {
      in_ranges = &covering->policy;
    } else if (!(*in_ranges == covering->policy)) {
      return std::nullopt;
    }
  }
  if (in_ranges == nullptr) return Mempolicy();  // no page in a range: default
  if (any_bare) return std::nullopt;             // some in a range, some in none
  return *in_ranges;
}

void CheckWholeFilePolicy(const SharedPolicyTree& t, uint64_t pages) {
  const Result<Mempolicy> got = WholeFilePolicy(t, pages);
  const std::optional<Mempolicy> want = ReferenceWholeFilePolicy(t, pages);
  const std::string at = Where(t) + " of " + std::to_string(pages) + " pages";
  if (!got.ok()) {
    RequireMessage("shared policy", got.status(), "WholeFilePolicy");
    if (got.status().code() != Status::Code::kFailedPrecondition)
      Fail("WholeFilePolicy refused with " + got.status().ToString(), at);
    if (want) Fail("WholeFilePolicy refused a file whose pages have one policy", at);
    // Not cut: the message names the first range holding pages of the file.
    if (!t.cut) {
      for (const SharedPolicyRange& r : t.ranges) {
        if (r.start >= pages) continue;
        const std::string named = "pages " + std::to_string(r.start) + "-";
        if (got.status().message().find(named) == std::string::npos)
          Fail("WholeFilePolicy's refusal does not name " + named, got.status().message());
        break;
      }
    }
    return;
  }
  if (!want) Fail("WholeFilePolicy gave one policy to a file whose pages have several", at);
  if (!(*got == *want)) Fail("WholeFilePolicy gave another policy than its pages have", at);
}

// Page counts for a tree: none, one, the most, each range's ends and a page either side, and
// a few drawn from the input (a 64-bit FNV-1a of it, then splitmix64).
std::vector<uint64_t> PageCounts(const SharedPolicyTree& t, std::string_view input) {
  std::vector<uint64_t> n = {0, 1, UINT64_MAX};
  uint64_t top = 2;
  for (const SharedPolicyRange& r : t.ranges) {
    for (uint64_t x : {r.start, r.end}) {
      n.push_back(x);
      if (x > 0) n.push_back(x - 1);
      if (x < UINT64_MAX) n.push_back(x + 1);
    }
    top = std::max(top, r.end < UINT64_MAX - 2 ? r.end + 2 : UINT64_MAX);
  }
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : input) h = (h ^ c) * 0x100000001b3ull;
  h ^= t.inode;
  for (int i = 0; i < 4; ++i) {
    uint64_t z = (h += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    n.push_back(top == UINT64_MAX ? z : z % top);
  }
  return n;
}

}  // namespace
}  // namespace khod

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using khod::Fail;
  using khod::kRecord;
  using khod::Record;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const khod::Result<std::vector<khod::SharedPolicyTree>> decoded =
      khod::DecodeSharedPolicyRecords(bytes, khod::kPid);
  khod::RequireMessage("shared policy", decoded.status(), "DecodeSharedPolicyRecords");
  if (!decoded.ok()) {
    const khod::Status::Code c = decoded.status().code();
    if (c != khod::Status::Code::kCorruption && c != khod::Status::Code::kBusy &&
        c != khod::Status::Code::kUnsupported)
      Fail("DecodeSharedPolicyRecords refused with " + decoded.status().ToString());
    return 0;
  }
  const std::vector<khod::SharedPolicyTree>& trees = decoded.value();
  if (size % kRecord != 0) Fail("accepted " + std::to_string(size) + " bytes: not whole records");

  // The file records, walked as the program writes them: each file's first record by inode.
  std::map<std::pair<uint64_t, uint64_t>, size_t> first;  // (dev, inode) -> record index
  for (size_t i = 0; i < size / kRecord;) {
    Record f;
    std::memcpy(&f, data + i * kRecord, kRecord);
    if (f.kind != KHOD_SHARED_POLICY_KIND_FILE)
      Fail("accepted a read whose record " + std::to_string(i) + " is not a file's");
    const uint64_t dev = makedev(f.dev >> 20, f.dev & 0xfffff);
    first.emplace(std::make_pair(dev, uint64_t{f.ino}), i);
    i += 1 + size_t{f.ranges};
  }
  if (trees.size() != first.size())
    Fail("accepted " + std::to_string(first.size()) + " inodes as " + std::to_string(trees.size()) +
         " trees");

  for (size_t k = 0; k < trees.size(); ++k) {
    const khod::SharedPolicyTree& t = trees[k];
    if (k > 0 &&
        std::make_pair(trees[k - 1].dev, trees[k - 1].inode) >= std::make_pair(t.dev, t.inode))
      Fail("trees out of (dev, inode) order or twice",
           khod::Where(trees[k - 1]) + " then " + khod::Where(t));
    const auto at = first.find(std::make_pair(t.dev, t.inode));
    if (at == first.end()) Fail("a tree of no file record", khod::Where(t));
    Record f;
    std::memcpy(&f, data + at->second * kRecord, kRecord);
    if (t.cut != ((f.flags & KHOD_SHARED_POLICY_F_CUT) != 0))
      Fail("a tree is cut where its record is not, or not where it is", khod::Where(t));
    if (t.cut && !t.ranges.empty()) Fail("a cut tree has ranges", khod::Where(t));
    if (t.ranges.size() > KHOD_SHARED_POLICY_MAX_RANGES)
      Fail("a tree has " + std::to_string(t.ranges.size()) + " ranges", khod::Where(t));
    if (t.ranges.size() != f.ranges)
      Fail("a tree has other than its record's " + std::to_string(f.ranges) + " ranges",
           khod::Where(t));
    for (size_t i = 0; i < t.ranges.size(); ++i) {
      const khod::SharedPolicyRange& r = t.ranges[i];
      Record rr;
      std::memcpy(&rr, data + (at->second + 1 + i) * kRecord, kRecord);
      if (r.start != rr.start || r.end != rr.end)
        Fail("a range is not its record's", khod::Where(t, i));
      if (r.start >= r.end) Fail("an empty range", khod::Where(t, i));
      if (i > 0 && r.start < t.ranges[i - 1].end)
        Fail("ranges out of order or overlapping",
             khod::Where(t, i - 1) + " then " + khod::Where(t, i));
      khod::CheckPolicy(t, i, rr);
    }
    for (uint64_t pages : khod::PageCounts(t, bytes)) khod::CheckWholeFilePolicy(t, pages);
  }
  return 0;
}
