// The warm-ups of a process (GmemSource::StartWarmUp) run one after another
// on one background thread, in the order they were asked for, instead of on a
// thread each: a new khod that adopts a hundred files starts one thread, not
// a hundred that take the cores from it while it opens its session and
// serves (docs/PERFORMANCE.md, "Many VMs"). A warm-up is never relied on, so
// one that has not started when its file is captured is dropped: the capture
// does that work itself, as it would have without a warm-up.
#ifndef KHOD_CAPTURE_WARM_UP_QUEUE_H_
#define KHOD_CAPTURE_WARM_UP_QUEUE_H_

#include <functional>
#include <memory>

namespace khod {

struct WarmUpTicket;  // one warm-up asked for

class WarmUpQueue {
 public:
  // Queues `work`; the background thread is started when none is running
  // (it ends when the queue is empty).
  static std::shared_ptr<WarmUpTicket> Submit(std::function<void()> work);
  // Returns once `ticket`'s work can no longer run: waits for it when it is
  // running, drops it when it has not started. Then the state it touches is
  // the caller's again. A null ticket, or one finished before, returns at once.
  static void Finish(const std::shared_ptr<WarmUpTicket>& ticket);
  // Whether `ticket`'s work ran to its end (false: dropped, or not done yet).
  static bool Ran(const std::shared_ptr<WarmUpTicket>& ticket);
};

}  // namespace khod

#endif  // KHOD_CAPTURE_WARM_UP_QUEUE_H_
