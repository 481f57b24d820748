// The shared NUMA policies of the shmem files this process holds open, read once for a capture
// round (kernel/shared_policy_iter.h reads every file of the process at once) and asked file by
// file: a round of a hundred files reads once, not a hundred times.
#ifndef KHOD_KERNEL_SHARED_POLICY_CACHE_H_
#define KHOD_KERNEL_SHARED_POLICY_CACHE_H_

#include <cstdint>
#include <mutex>
#include <optional>
#include <vector>

#include "common/status.h"
#include "kernel/shared_policy.h"
#include "kernel/shared_policy_iter.h"

namespace khod {

class SharedPolicyCache {
 public:
  // Asks the process-wide iterator (LoadedSharedPolicyIterator), loaded on first use.
  SharedPolicyCache() = default;
  // `iterator`: a test's; nullptr: none can be loaded (every Of says so).
  explicit SharedPolicyCache(const SharedPolicyIterator* iterator)
      : iterator_(iterator), loaded_(false) {}

  // The tree of the shmem file (dev as fstat's st_dev, inode) this process holds open, from
  // the round's one read. Unsupported naming why where no iterator loads; NotFound where the
  // read shows no such file (it was not open when the round read); the read's error else.
  // Safe to call from several threads at once.
  Result<SharedPolicyTree> Of(uint64_t dev, uint64_t inode);

 private:
  const SharedPolicyIterator* const iterator_ = nullptr;
  const bool loaded_ = true;  // ask LoadedSharedPolicyIterator
  std::mutex mu_;
  std::optional<Result<std::vector<SharedPolicyTree>>> read_;  // guarded by mu_
};

}  // namespace khod

#endif  // KHOD_KERNEL_SHARED_POLICY_CACHE_H_
