#include "capture/warm_up_queue.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

namespace khod {

struct WarmUpTicket {
  enum class State { kQueued, kRunning, kRan, kDropped };
  std::mutex mu;
  std::condition_variable done;
  State state = State::kQueued;
  std::function<void()> work;
};

namespace {

struct Queue {
  std::mutex mu;
  std::deque<std::shared_ptr<WarmUpTicket>> tickets;
  bool worker_running = false;
};

// Never destroyed: a worker may still be leaving when the process exits.
Queue& TheQueue() {
  static Queue* q = new Queue;
  return *q;
}

void Work() {
  Queue& q = TheQueue();
  for (;;) {
    std::shared_ptr<WarmUpTicket> t;
    {
      std::lock_guard<std::mutex> l(q.mu);
      if (q.tickets.empty()) {
        q.worker_running = false;
        return;
      }
      t = std::move(q.tickets.front());
      q.tickets.pop_front();
    }
    std::function<void()> work;
    {
      std::lock_guard<std::mutex> l(t->mu);
      if (t->state != WarmUpTicket::State::kQueued) continue;  // dropped meanwhile
      t->state = WarmUpTicket::State::kRunning;
      work = std::move(t->work);
    }
    work();
    {
      std::lock_guard<std::mutex> l(t->mu);
      t->state = WarmUpTicket::State::kRan;
    }
    t->done.notify_all();
  }
}

}  // namespace

std::shared_ptr<WarmUpTicket> WarmUpQueue::Submit(std::function<void()> work) {
  auto t = std::make_shared<WarmUpTicket>();
  t->work = std::move(work);
  Queue& q = TheQueue();
  std::lock_guard<std::mutex> l(q.mu);
  q.tickets.push_back(t);
  if (!q.worker_running) {
    q.worker_running = true;
    std::thread(Work).detach();
  }
  return t;
}

void WarmUpQueue::Finish(const std::shared_ptr<WarmUpTicket>& ticket) {
  if (!ticket) return;
  std::unique_lock<std::mutex> l(ticket->mu);
  if (ticket->state == WarmUpTicket::State::kQueued) {
    ticket->state = WarmUpTicket::State::kDropped;
    ticket->work = nullptr;
    return;
  }
  ticket->done.wait(l, [&] { return ticket->state != WarmUpTicket::State::kRunning; });
}

bool WarmUpQueue::Ran(const std::shared_ptr<WarmUpTicket>& ticket) {
  if (!ticket) return false;
  std::lock_guard<std::mutex> l(ticket->mu);
  return ticket->state == WarmUpTicket::State::kRan;
}

}  // namespace khod
