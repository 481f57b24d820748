#include "kernel/shared_policy_cache.h"

#include <unistd.h>

#include <string>

namespace khod {

Result<SharedPolicyTree> SharedPolicyCache::Of(uint64_t dev, uint64_t inode) {
  std::lock_guard<std::mutex> l(mu_);
  if (!read_) {
    std::string why_not = "no reader given";
    const SharedPolicyIterator* it = loaded_ ? LoadedSharedPolicyIterator(&why_not) : iterator_;
    if (it == nullptr)
      read_ = Result<std::vector<SharedPolicyTree>>(
          Status::Unsupported("khod's BPF reader of shared policies cannot be loaded: " + why_not));
    else
      read_ = it->Read(::getpid());
  }
  if (!read_->ok()) return read_->status();
  for (const SharedPolicyTree& t : **read_)
    if (t.dev == dev && t.inode == inode) return t;
  return Status::NotFound("inode " + std::to_string(inode) +
                          " is not among the shmem files this process held when it read them");
}

}  // namespace khod
