// A child process that sets something up (maps a file, mbinds it) and then
// waits to be killed, for a bench that measures what khod's reading of
// another process costs. The parent goes on only once the child said it is
// ready, so a measurement never races the child's setup.
#ifndef KHOD_BENCH_READY_CHILD_H_
#define KHOD_BENCH_READY_CHILD_H_

#include <sys/types.h>

#include <functional>

namespace khod {

// Forks a child that runs `setup` and, if it returns true, says it is ready
// and pauses until killed (a false return ends it). Returns its pid once it
// is ready; -1 if the fork failed or the child ended without being ready
// (then it is reaped). The caller kills and reaps it (KillReadyChild).
pid_t ForkReadyChild(const std::function<bool()>& setup);

// SIGKILL, then waitpid: gone and reaped once this returns.
void KillReadyChild(pid_t pid);

}  // namespace khod

#endif  // KHOD_BENCH_READY_CHILD_H_
