#include "common/background_close.h"

#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <system_error>
#include <thread>

namespace khod {
namespace {

struct Closer {
  std::mutex mu;
  std::condition_variable more;
  std::deque<int> fds;
  size_t pending = 0;  // given, not yet closed: those queued and the one closing
  bool started = false;
};

// Never destroyed: the detached thread may outlive static destruction.
Closer& TheCloser() {
  static Closer* c = new Closer;
  return *c;
}

void CloseLoop(Closer* c) {
  for (;;) {
    int fd;
    {
      std::unique_lock<std::mutex> l(c->mu);
      c->more.wait(l, [c] { return !c->fds.empty(); });
      fd = c->fds.front();
      c->fds.pop_front();
    }
    ::close(fd);
    std::lock_guard<std::mutex> l(c->mu);
    --c->pending;
  }
}

}  // namespace

void CloseInBackground(UniqueFd fd) {
  if (!fd.valid()) return;
  Closer& c = TheCloser();
  std::lock_guard<std::mutex> l(c.mu);
  if (!c.started) {
    try {
      std::thread(CloseLoop, &c).detach();
    } catch (const std::system_error&) {
      return;  // no thread to be had: `fd` closes here, as it would have without one
    }
    c.started = true;
  }
  c.fds.push_back(fd.release());
  ++c.pending;
  c.more.notify_one();
}

size_t BackgroundClosesPending() {
  Closer& c = TheCloser();
  std::lock_guard<std::mutex> l(c.mu);
  return c.pending;
}

}  // namespace khod
