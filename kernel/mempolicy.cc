#include "kernel/mempolicy.h"

#include <errno.h>
#include <linux/mempolicy.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "kernel/mempolicy_text.h"

// Linux 5.17; newer than some distributions' headers.
#ifndef __NR_set_mempolicy_home_node
#define __NR_set_mempolicy_home_node 450
#endif

namespace khod {

namespace {
// Large enough for any kernel's nr_node_ids (MAX_NUMNODES <= 1024 on x86_64).
constexpr size_t kMaskWords = 16;
constexpr unsigned long kMaxNode = kMaskWords * 64;
constexpr int kModeFlagsMask = MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES | MPOL_F_NUMA_BALANCING;
}  // namespace

Result<Mempolicy> GetMempolicyAt(const void* addr) {
  int mode = 0;
  unsigned long mask[kMaskWords] = {};
  if (::syscall(SYS_get_mempolicy, &mode, mask, kMaxNode, addr, MPOL_F_ADDR) < 0)
    return Status::FromErrno("get_mempolicy(MPOL_F_ADDR)", errno);
  Mempolicy p;
  p.mode = mode & ~kModeFlagsMask;
  p.mode_flags = static_cast<uint32_t>(mode & kModeFlagsMask);
  size_t words = kMaskWords;
  while (words > 0 && mask[words - 1] == 0) --words;
  p.nodemask.assign(mask, mask + words);
  // get_mempolicy() does not report the home node: unknown where the mode can hold one.
  p.home_node = -1;
  p.home_node_seen = !ModeCanHaveHomeNode(p.mode);
  return p;
}

Result<int> FirstAllowedNode() {
  int mode = 0;
  unsigned long mask[kMaskWords] = {};
  if (::syscall(SYS_get_mempolicy, &mode, mask, kMaxNode, nullptr, MPOL_F_MEMS_ALLOWED) < 0)
    return Status::FromErrno("get_mempolicy(MPOL_F_MEMS_ALLOWED)", errno);
  for (size_t w = 0; w < kMaskWords; ++w)
    if (mask[w]) return static_cast<int>(w * 64 + static_cast<size_t>(__builtin_ctzl(mask[w])));
  return Status::Internal("get_mempolicy(MPOL_F_MEMS_ALLOWED) allows no node");
}

Status SetMempolicy(void* addr, size_t length, const Mempolicy& policy) {
  unsigned long mask[kMaskWords] = {};
  if (policy.nodemask.size() > kMaskWords)
    return Status::InvalidArgument("nodemask has more than " + std::to_string(kMaxNode) + " nodes");
  for (size_t i = 0; i < policy.nodemask.size(); ++i) mask[i] = policy.nodemask[i];
  const bool no_mask = policy.mode == MPOL_DEFAULT || policy.mode == MPOL_LOCAL;
  // mbind's maxnode counts one past the last bit (a historic off-by-one).
  if (::syscall(SYS_mbind, addr, length, policy.mode | static_cast<int>(policy.mode_flags),
                no_mask ? nullptr : mask, no_mask ? 0 : kMaxNode + 1, 0) < 0)
    return Status::FromErrno(std::string("mbind ") + MempolicyModeName(policy.mode), errno);
  // mbind() made the policy without a home node (NUMA_NO_NODE): give it its own.
  if (policy.home_node >= 0) return SetMempolicyHomeNode(addr, length, policy.home_node);
  return Status::Ok();
}

Status SetMempolicyHomeNode(void* addr, size_t length, int32_t home_node) {
  if (::syscall(__NR_set_mempolicy_home_node, addr, length, static_cast<unsigned long>(home_node),
                0UL) == 0)
    return Status::Ok();
  const int err = errno;
  const std::string what = "set_mempolicy_home_node " + std::to_string(home_node);
  // No such syscall (before Linux 5.17), or a mode that holds no home node.
  if (err == ENOSYS || err == EOPNOTSUPP)
    return Status::Unsupported(what + ": " + std::strerror(err));
  return Status::FromErrno(what, err);
}

}  // namespace khod
