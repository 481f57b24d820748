#include "common/background_close.h"

#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>

namespace khod {
namespace {

struct Closes {
  std::mutex mu;
  std::condition_variable ended;
  size_t pending = 0;  // given, not yet closed
};

// Never destroyed: a detached thread may outlive static destruction.
Closes& TheCloses() {
  static Closes* c = new Closes;
  return *c;
}

void CloseAndCount(Closes* c, int fd) {
  ::close(fd);
  std::lock_guard<std::mutex> l(c->mu);
  --c->pending;
  c->ended.notify_all();
}

}  // namespace

void CloseInBackground(UniqueFd fd) {
  if (!fd.valid()) return;
  Closes& c = TheCloses();
  {
    std::lock_guard<std::mutex> l(c.mu);
    ++c.pending;
  }
  const int raw = fd.release();
  try {
    std::thread(CloseAndCount, &c, raw).detach();
  } catch (const std::system_error&) {
    CloseAndCount(&c, raw);  // no thread to be had: closed here, as without one
  }
}

size_t BackgroundClosesPending() {
  Closes& c = TheCloses();
  std::lock_guard<std::mutex> l(c.mu);
  return c.pending;
}

Status BackgroundCloseRoom(const std::string& what) {
  const size_t pending = BackgroundClosesPending();
  if (pending < kMaxBackgroundCloses) return Status::Ok();
  return Status::ResourceExhausted(
      what + " refused: khod is still closing " + std::to_string(pending) +
      " files it took and refused, whose filesystem does not answer the close (a FUSE server "
      "holding FLUSH); aborting that connection (echo 1 > /sys/fs/fuse/connections/N/abort) "
      "ends them");
}

bool WaitForBackgroundCloses(std::chrono::milliseconds limit) {
  Closes& c = TheCloses();
  std::unique_lock<std::mutex> l(c.mu);
  return c.ended.wait_for(l, limit, [&] { return c.pending == 0; });
}

}  // namespace khod
