// GroupCommit: one fsync'd write made durable for many concurrent changes.
// Each change stages the whole new payload (the session record), which
// supersedes every payload staged before it, and gets a ticket. Wait(ticket)
// returns once a write covering that ticket is durable: the first waiter
// finding no write in flight writes the newest payload, the others wait for
// it (or the next one). A call therefore still returns only after its change
// is durable, but N concurrent changes cost about one write+fsync, not N.
#ifndef KHOD_DAEMON_GROUP_COMMIT_H_
#define KHOD_DAEMON_GROUP_COMMIT_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>

#include "common/status.h"

namespace khod {

class GroupCommit {
 public:
  using Writer = std::function<Status(std::string_view payload)>;
  explicit GroupCommit(Writer writer) : writer_(std::move(writer)) {}

  // Queues `payload` (newer than anything staged so far: callers stage under
  // their own lock); `on_durable` runs, on the writing thread, once it is
  // durable (skipped when a newer payload superseded it first).
  uint64_t Stage(std::string payload, std::function<void()> on_durable);
  // Blocks until the payload of `ticket` (or a newer one) is durable; the
  // writer's error when the write covering it failed.
  Status Wait(uint64_t ticket);

 private:
  Writer writer_;
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t staged_ = 0;       // ticket of `pending_`
  uint64_t durable_ = 0;      // every ticket <= this is durable
  uint64_t failed_upto_ = 0;  // tickets in (durable_, failed_upto_] failed with failure_
  Status failure_;
  bool writing_ = false;
  std::string pending_;
  std::function<void()> pending_on_durable_;
};

}  // namespace khod

#endif  // KHOD_DAEMON_GROUP_COMMIT_H_
