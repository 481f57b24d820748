#include "kernel/sigbus_guard.h"

#include <setjmp.h>
#include <signal.h>

#include <cstdio>
#include <cstring>
#include <mutex>

namespace khod {

namespace {

// This thread's guarded read, if one runs. Set before the read starts, so
// the handler never touches a thread-local for the first time (which, in a
// shared library, may allocate).
struct Guard {
  sigjmp_buf jump;
  void* address = nullptr;
};
thread_local Guard* tls_guard = nullptr;

struct sigaction previous_action;

void OnSigbus(int sig, siginfo_t* info, void* context) {
  if (Guard* g = tls_guard) {
    g->address = info->si_addr;
    siglongjmp(g->jump, 1);
  }
  // Not ours: what was there before would have run.
  if (previous_action.sa_flags & SA_SIGINFO) {
    if (previous_action.sa_sigaction) previous_action.sa_sigaction(sig, info, context);
    return;
  }
  if (previous_action.sa_handler == SIG_IGN) return;
  if (previous_action.sa_handler != SIG_DFL) {
    previous_action.sa_handler(sig);
    return;
  }
  // The default action: returning re-runs the faulting load, which raises
  // SIGBUS again with the default disposition.
  signal(SIGBUS, SIG_DFL);
}

void InstallOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa;
    std::memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = OnSigbus;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, &previous_action);
  });
}

}  // namespace

Status ReadCatchingSigbus(const std::string& what, const std::function<void()>& read) {
  InstallOnce();
  Guard guard;
  Guard* const outer = tls_guard;
  // savemask: the handler runs with SIGBUS blocked; the jump restores the mask.
  if (sigsetjmp(guard.jump, 1) != 0) {
    tls_guard = outer;
    char address[32];
    std::snprintf(address, sizeof(address), "%p", guard.address);
    return Status::FailedPrecondition(what + ": SIGBUS reading address " + address +
                                      " (the page went away under the mapping: punched, turned "
                                      "private, truncated or poisoned)");
  }
  tls_guard = &guard;
  read();
  tls_guard = outer;
  return Status::Ok();
}

}  // namespace khod
