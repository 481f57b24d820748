#include "daemon/stop_signal_waiter.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>

namespace khod {

StopSignalWaiter::~StopSignalWaiter() {
  Stop();
  if (signal_fd_ >= 0) ::close(signal_fd_);
  if (stop_fd_ >= 0) ::close(stop_fd_);
}

Status StopSignalWaiter::Open() {
  signal_fd_ = ::signalfd(-1, &sigs_, SFD_CLOEXEC | SFD_NONBLOCK);
  if (signal_fd_ < 0) return Status::FromErrno("signalfd", errno);
  stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop_fd_ < 0) return Status::FromErrno("eventfd", errno);
  return Status::Ok();
}

void StopSignalWaiter::Start() {
  uint64_t n;
  while (::read(stop_fd_, &n, sizeof(n)) > 0) {
  }  // a previous Stop()'s wake-up
  thread_ = std::thread([this] { Run(); });
}

void StopSignalWaiter::Stop() {
  if (!thread_.joinable()) return;
  const uint64_t one = 1;
  while (::write(stop_fd_, &one, sizeof(one)) < 0 && errno == EINTR) {
  }
  thread_.join();
}

void StopSignalWaiter::Run() {
  for (;;) {
    pollfd p[2] = {{stop_fd_, POLLIN, 0}, {signal_fd_, POLLIN, 0}};
    if (::poll(p, 2, -1) < 0) {
      // EINTR: the process was stopped and continued. Anything else (ENOMEM)
      // passes: a signal not taken stays pending, never lost.
      if (errno != EINTR) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    if (p[0].revents != 0) return;  // a signal pending now stays pending
    signalfd_siginfo si;
    if (::read(signal_fd_, &si, sizeof(si)) != static_cast<ssize_t>(sizeof(si))) continue;
    on_signal_(static_cast<int>(si.ssi_signo));
  }
}

}  // namespace khod
