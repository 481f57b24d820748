// StopSignalWaiter: takes khod's stop signals (SIGTERM, SIGINT) on a thread
// of its own and hands each to a callback.
//
// The signals must be blocked in every thread (khod's main blocks them before
// any thread starts, and threads inherit the mask), so none is ever delivered
// with its default action: one waits pending on the process until this
// thread reads it from a signalfd. Stop() ends the thread (an eventfd polled
// with the signalfd wakes it at once) without taking a signal that is pending
// then; from then on a stop signal stays pending, taken by no one, until
// Start() runs the thread again or an exec hands it on (execve keeps the
// mask and the pending signals: the reexec's new khod takes it).
#ifndef KHOD_DAEMON_STOP_SIGNAL_WAITER_H_
#define KHOD_DAEMON_STOP_SIGNAL_WAITER_H_

#include <signal.h>

#include <functional>
#include <thread>

#include "common/status.h"

namespace khod {

class StopSignalWaiter {
 public:
  // `on_signal` runs on the waiter's thread, once per signal taken.
  StopSignalWaiter(const sigset_t& sigs, std::function<void(int signo)> on_signal)
      : sigs_(sigs), on_signal_(std::move(on_signal)) {}
  ~StopSignalWaiter();
  StopSignalWaiter(const StopSignalWaiter&) = delete;
  StopSignalWaiter& operator=(const StopSignalWaiter&) = delete;

  // Makes the signalfd and the eventfd (close-on-exec); once, before Start().
  Status Open();
  // Runs the thread (again after Stop()).
  void Start();
  // Ends the thread and joins it; a signal not taken by then stays pending.
  void Stop();

 private:
  void Run();

  const sigset_t sigs_;
  const std::function<void(int)> on_signal_;
  int signal_fd_ = -1;
  int stop_fd_ = -1;
  std::thread thread_;
};

}  // namespace khod

#endif  // KHOD_DAEMON_STOP_SIGNAL_WAITER_H_
