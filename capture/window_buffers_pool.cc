#include "capture/window_buffers_pool.h"

#include <mutex>
#include <utility>
#include <vector>

namespace khod {
namespace {

// Never destroyed: a warm-up thread (detached: capture/warm_up_queue.h) may
// give its buffers back while the process exits.
std::mutex& PoolMutex() {
  static std::mutex* const mu = new std::mutex;
  return *mu;
}

// Kept sorted by capacity, largest last.
std::vector<std::unique_ptr<WindowBuffers>>& KeptBuffers() {
  static auto* const kept = new std::vector<std::unique_ptr<WindowBuffers>>;
  return *kept;
}

size_t made = 0;  // under PoolMutex

}  // namespace

std::unique_ptr<WindowBuffers> WindowBuffersPool::Take() {
  std::lock_guard<std::mutex> lock(PoolMutex());
  auto& kept = KeptBuffers();
  if (kept.empty()) {
    ++made;
    return std::make_unique<WindowBuffers>();
  }
  std::unique_ptr<WindowBuffers> w = std::move(kept.back());
  kept.pop_back();
  return w;
}

void WindowBuffersPool::Give(std::unique_ptr<WindowBuffers> w) {
  if (!w) return;
  w->populated = 0;
  {
    std::lock_guard<std::mutex> lock(PoolMutex());
    auto& kept = KeptBuffers();
    if (kept.size() < kMaxKept) {
      auto at = kept.begin();
      while (at != kept.end() && (*at)->cap <= w->cap) ++at;
      kept.insert(at, std::move(w));
      return;
    }
  }
  // The pool is full: `w` is freed here, outside the lock.
}

size_t WindowBuffersPool::Kept() {
  std::lock_guard<std::mutex> lock(PoolMutex());
  return KeptBuffers().size();
}

size_t WindowBuffersPool::Made() {
  std::lock_guard<std::mutex> lock(PoolMutex());
  return made;
}

}  // namespace khod
