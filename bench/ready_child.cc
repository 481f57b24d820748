#include "bench/ready_child.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

namespace khod {

pid_t ForkReadyChild(const std::function<bool()>& setup) {
  int ready[2];
  if (::pipe2(ready, O_CLOEXEC) != 0) return -1;
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(ready[0]);
    ::close(ready[1]);
    return -1;
  }
  if (pid == 0) {
    ::close(ready[0]);
    if (!setup()) ::_exit(1);
    (void)!::write(ready[1], "r", 1);
    ::pause();
    ::_exit(0);
  }
  ::close(ready[1]);
  char b;
  const bool ok = ::read(ready[0], &b, 1) == 1;  // EOF: the child ended first
  ::close(ready[0]);
  if (ok) return pid;
  KillReadyChild(pid);
  return -1;
}

void KillReadyChild(pid_t pid) {
  if (pid <= 0) return;
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
}

}  // namespace khod
