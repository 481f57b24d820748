// A child process for the rehearsal: khod or the VMM fixture, started with
// fork+exec, optionally with a pipe to its stdin and from its stdout.
#ifndef KHOD_TOOLS_REHEARSAL_CHILD_PROCESS_H_
#define KHOD_TOOLS_REHEARSAL_CHILD_PROCESS_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/status.h"

namespace khod {

class ChildProcess {
 public:
  // stderr goes to `stderr_path` (empty: inherited).
  static Result<ChildProcess> Start(const std::vector<std::string>& argv, bool pipes,
                                    const std::string& stderr_path = "");
  ChildProcess(ChildProcess&& o) noexcept;
  ChildProcess& operator=(ChildProcess&&) = delete;
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  // One line from the child's stdout (without the newline).
  Result<std::string> ReadLine();
  // Closes its stdin, sends `sig`, waits; returns the wait status.
  int Stop(int sig);
  // Closes its stdin and waits for it to exit on its own; returns the wait status.
  int Wait() { return Stop(0); }

 private:
  ChildProcess() = default;
  pid_t pid_ = -1;
  int in_ = -1;   // child's stdin
  int out_ = -1;  // child's stdout
  std::string buf_;
};

}  // namespace khod

#endif  // KHOD_TOOLS_REHEARSAL_CHILD_PROCESS_H_
