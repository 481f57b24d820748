#include "kernel/sigbus_guard.h"

#include <setjmp.h>
#include <signal.h>

#include <cstring>
#include <mutex>

namespace khod {

namespace {

// This thread's guarded read, if one runs. Set before the read starts, so
// the handler never touches a thread-local for the first time (which, in a
// shared library, may allocate).
struct Guard {
  sigjmp_buf jump;
};
thread_local Guard* tls_guard = nullptr;

struct sigaction previous_action;

void OnSigbus(int sig, siginfo_t* info, void* context) {
  if (Guard* g = tls_guard) siglongjmp(g->jump, 1);
  // Not ours: what was there before runs. A fault (si_code > 0: the kernel's,
  // for a load) is fatal even where SIGBUS was ignored, as the kernel makes it.
  const bool fault = info != nullptr && info->si_code > 0;
  if (previous_action.sa_flags & SA_SIGINFO) {
    if (previous_action.sa_sigaction) previous_action.sa_sigaction(sig, info, context);
    return;
  }
  if (previous_action.sa_handler == SIG_IGN && !fault) return;
  if (previous_action.sa_handler != SIG_DFL && previous_action.sa_handler != SIG_IGN) {
    previous_action.sa_handler(sig);
    return;
  }
  // The default action. A fault's load runs again on return and raises
  // SIGBUS again; a SIGBUS sent (kill) is raised again, delivered once this
  // handler returns (it is blocked until then).
  signal(SIGBUS, SIG_DFL);
  if (!fault) raise(SIGBUS);
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
  // Put back however this ends: returned, thrown through, or jumped out of.
  struct Restore {
    Guard* outer;
    ~Restore() { tls_guard = outer; }
  } restore{outer};
  // savemask: the handler runs with SIGBUS blocked; the jump restores the mask.
  if (sigsetjmp(guard.jump, 1) != 0)
    // No address: it would tell a caller where khod's mappings are.
    return Status::FailedPrecondition(what +
                                      ": SIGBUS while reading through khod's mapping (the page "
                                      "went away under it: punched, turned private, truncated "
                                      "or poisoned)");
  tls_guard = &guard;
  read();
  return Status::Ok();
}

}  // namespace khod
