#include "daemon/group_commit.h"

namespace khod {

uint64_t GroupCommit::Stage(std::string payload, std::function<void()> on_durable) {
  std::lock_guard<std::mutex> l(mu_);
  pending_ = std::move(payload);
  pending_on_durable_ = std::move(on_durable);
  return ++staged_;
}

Status GroupCommit::Wait(uint64_t ticket) {
  std::unique_lock<std::mutex> l(mu_);
  for (;;) {
    if (durable_ >= ticket) return Status::Ok();
    if (failed_upto_ >= ticket) return failure_;
    if (writing_) {
      cv_.wait(l);
      continue;
    }
    // Leader: write the newest payload; it covers every ticket up to it.
    writing_ = true;
    const uint64_t covers = staged_;
    std::string payload = std::move(pending_);
    std::function<void()> on_durable = std::move(pending_on_durable_);
    pending_.clear();
    l.unlock();
    Status s = writer_(payload);
    if (s.ok() && on_durable) on_durable();
    l.lock();
    writing_ = false;
    if (s.ok()) {
      durable_ = covers;
    } else {
      failed_upto_ = covers;
      failure_ = s;
      // A later Stage() carries every change again: give it a chance.
      if (staged_ == covers) {
        pending_ = std::move(payload);
        pending_on_durable_ = std::move(on_durable);
      }
    }
    cv_.notify_all();
  }
}

}  // namespace khod
