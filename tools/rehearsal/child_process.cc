#include "tools/rehearsal/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

namespace khod {

Result<ChildProcess> ChildProcess::Start(const std::vector<std::string>& argv, bool pipes,
                                         const std::string& stderr_path) {
  int in[2] = {-1, -1}, out[2] = {-1, -1};
  if (pipes && (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0))
    return Status::FromErrno("pipe", errno);
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) return Status::FromErrno("fork", errno);
  if (pid == 0) {
    if (pipes) {
      ::dup2(in[0], 0);
      ::dup2(out[1], 1);
    }
    if (!stderr_path.empty()) {
      int e = ::open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      if (e >= 0) {
        ::dup2(e, 2);
        if (e != 2) ::close(e);  // else the child (khod) inherits a stray log fd
      }
    }
    ::execv(cargv[0], cargv.data());
    ::_exit(127);
  }
  ChildProcess c;
  c.pid_ = pid;
  if (pipes) {
    ::close(in[0]);
    ::close(out[1]);
    c.in_ = in[1];
    c.out_ = out[0];
  }
  return c;
}

ChildProcess::ChildProcess(ChildProcess&& o) noexcept
    : pid_(o.pid_), in_(o.in_), out_(o.out_), buf_(std::move(o.buf_)) {
  o.pid_ = -1;
  o.in_ = o.out_ = -1;
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0) Stop(SIGKILL);
}

Result<std::string> ChildProcess::ReadLine() {
  for (;;) {
    size_t nl = buf_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buf_.substr(0, nl);
      buf_.erase(0, nl + 1);
      return line;
    }
    char b[4096];
    ssize_t n = ::read(out_, b, sizeof(b));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status::IoError("child " + std::to_string(pid_) + " closed its stdout");
    buf_.append(b, static_cast<size_t>(n));
  }
}

int ChildProcess::Stop(int sig) {
  if (in_ >= 0) ::close(in_);
  if (out_ >= 0) ::close(out_);
  in_ = out_ = -1;
  if (pid_ <= 0) return 0;
  ::kill(pid_, sig);
  int st = 0;
  ::waitpid(pid_, &st, 0);
  pid_ = -1;
  return st;
}

}  // namespace khod
