#include "kernel/numa_maps.h"

#include <linux/mempolicy.h>

#include <cstdlib>
#include <optional>
#include <string>

#include "common/numbers.h"
#include "common/status_macros.h"

namespace khod {

namespace {

// The highest node a nodelist may name: MAX_NUMNODES on x86_64 is at most 1024.
constexpr uint64_t kMaxNodes = 1024;

// Modes as mpol_to_str() names them. Longest first where one is a prefix of
// another ("prefer (many)" before "prefer").
struct ModeName {
  std::string_view name;
  int32_t mode;
};
constexpr ModeName kModes[] = {
    {"default", MPOL_DEFAULT},       {"prefer (many)", 5},  // MPOL_PREFERRED_MANY
    {"prefer", MPOL_PREFERRED},      {"bind", MPOL_BIND},
    {"weighted interleave", 6},  // MPOL_WEIGHTED_INTERLEAVE (newer than Debian 12's header)
    {"interleave", MPOL_INTERLEAVE}, {"local", MPOL_LOCAL},
};

Status Bad(std::string_view text, const std::string& why) {
  return Status::InvalidArgument("numa_maps policy '" + std::string(text.substr(0, 80)) +
                                 "': " + why);
}

// A decimal node number at the start of `s`, advanced past it.
bool TakeNode(std::string_view* s, uint64_t* node) {
  const std::optional<uint64_t> v = ConsumeU64(s);
  if (v) *node = *v;
  return v.has_value();
}

// "0-1,3" into a nodemask (bit n of word n/64), trailing zero words trimmed.
Status ParseNodelist(std::string_view whole, std::string_view s, std::vector<uint64_t>* mask) {
  mask->clear();
  while (!s.empty()) {
    uint64_t lo = 0, hi = 0;
    if (!TakeNode(&s, &lo)) return Bad(whole, "a node list needs node numbers");
    hi = lo;
    if (!s.empty() && s[0] == '-') {
      s.remove_prefix(1);
      if (!TakeNode(&s, &hi) || hi < lo) return Bad(whole, "a node range needs LOW-HIGH");
    }
    if (hi >= kMaxNodes) return Bad(whole, "node " + std::to_string(hi) + " is out of range");
    if (mask->size() <= hi / 64) mask->resize(hi / 64 + 1, 0);
    for (uint64_t n = lo; n <= hi; ++n) (*mask)[n / 64] |= uint64_t{1} << (n % 64);
    if (s.empty()) break;
    if (s[0] != ',' || s.size() == 1) return Bad(whole, "nodes are separated by ','");
    s.remove_prefix(1);
  }
  while (!mask->empty() && mask->back() == 0) mask->pop_back();
  return Status::Ok();
}

}  // namespace

Result<Mempolicy> ParseNumaMapsPolicy(std::string_view text) {
  if (text.size() > kNumaMapsPolicyCut) return Bad(text, "longer than the kernel prints one");
  if (text.size() == kNumaMapsPolicyCut)
    return Status::Unsupported("numa_maps policy '" + std::string(text.substr(0, 80)) + "' is " +
                               std::to_string(text.size()) +
                               " characters: the kernel's 64-byte buffer may have cut it");
  Mempolicy p;
  std::string_view s = text;
  const ModeName* found = nullptr;
  for (const ModeName& m : kModes)
    if (s.substr(0, m.name.size()) == m.name) {
      found = &m;
      break;
    }
  if (!found) return Bad(text, "unknown mode");
  p.mode = found->mode;
  s.remove_prefix(found->name.size());
  if (!s.empty() && s[0] == '=') {
    s.remove_prefix(1);
    const size_t end = s.find(':');
    std::string_view flags = s.substr(0, end);
    s = end == std::string_view::npos ? std::string_view() : s.substr(end);
    while (!flags.empty()) {
      const size_t bar = flags.find('|');
      std::string_view f = flags.substr(0, bar);
      if (f == "static")
        p.mode_flags |= MPOL_F_STATIC_NODES;
      else if (f == "relative")
        p.mode_flags |= MPOL_F_RELATIVE_NODES;
      else if (f == "balancing")
        p.mode_flags |= MPOL_F_NUMA_BALANCING;
      else
        return Bad(text, "unknown mode flag '" + std::string(f.substr(0, 20)) + "'");
      flags = bar == std::string_view::npos ? std::string_view() : flags.substr(bar + 1);
    }
    if (p.mode_flags == 0) return Bad(text, "'=' without a mode flag");
  }
  if (!s.empty()) {
    if (s[0] != ':' || s.size() == 1) return Bad(text, "expected ':NODES' after the mode");
    KHOD_RETURN_IF_ERROR(ParseNodelist(text, s.substr(1), &p.nodemask));
  }
  const bool takes_nodes = p.mode != MPOL_DEFAULT && p.mode != MPOL_LOCAL;
  if (!takes_nodes && !p.nodemask.empty()) return Bad(text, "this mode takes no nodes");
  // mpol_to_str() prints no home node: none is known where the mode can hold one.
  p.home_node = -1;
  p.home_node_seen = !ModeCanHaveHomeNode(p.mode);
  return p;
}

Result<NumaMapsEntry> ParseNumaMapsLine(std::string_view line) {
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("numa_maps line '" + std::string(line.substr(0, 120)) +
                                   "': " + why);
  };
  NumaMapsEntry e;
  std::string_view rest = line;
  const std::optional<uint64_t> start = ConsumeHexU64(&rest);
  if (!start || rest.empty() || rest[0] != ' ') return bad("expected 'ADDRESS POLICY'");
  e.start = *start;
  rest.remove_prefix(1);
  // The policy is its mode's name (which may hold a space) and what follows
  // it up to the next space, where the key=value fields start.
  size_t mode_chars = 0;
  for (const ModeName& m : kModes)
    if (rest.substr(0, m.name.size()) == m.name) {
      mode_chars = m.name.size();
      break;
    }
  const size_t end = rest.find(' ', mode_chars);
  Result<Mempolicy> p = ParseNumaMapsPolicy(rest.substr(0, end));
  if (!p.ok() && p.status().code() == Status::Code::kUnsupported)
    return Status::Unsupported("numa_maps line at " + std::string(line.substr(0, line.find(' '))) +
                               ": " + p.status().message());
  if (!p.ok()) return bad(p.status().message());
  e.policy = std::move(*p);
  return e;
}

}  // namespace khod
