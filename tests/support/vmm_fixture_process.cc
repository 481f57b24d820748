#include "tests/support/vmm_fixture_process.h"

#include <errno.h>
#include <fcntl.h>
#include <google/protobuf/util/json_util.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

namespace khod {

namespace {
constexpr const char* kFixturePath = "tools/vmm_fixture/vmm_fixture";  // in runfiles
}

Result<std::unique_ptr<VmmFixtureProcess>> VmmFixtureProcess::Start(
    const std::vector<std::string>& args) {
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) < 0 || ::pipe2(out, O_CLOEXEC) < 0)
    return Status::FromErrno("pipe", errno);
  pid_t pid = ::fork();
  if (pid < 0) return Status::FromErrno("fork", errno);
  if (pid == 0) {
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    std::vector<char*> argv{const_cast<char*>(kFixturePath)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(kFixturePath, argv.data());
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  std::unique_ptr<VmmFixtureProcess> p(new VmmFixtureProcess());
  p->pid_ = pid;
  p->to_child_ = in[1];
  p->from_child_ = out[0];
  auto line = p->ReadLine();
  if (!line.ok()) return line.status().WithContext("vmm_fixture report");
  p->report_line_ = *line;
  const auto parsed = google::protobuf::util::JsonStringToMessage(*line, &p->report_);
  if (!parsed.ok())
    return Status::InvalidArgument("vmm_fixture report '" + *line +
                                   "': " + std::string(parsed.message()));
  return p;
}

VmmFixtureProcess::~VmmFixtureProcess() {
  if (to_child_ >= 0) ::close(to_child_);
  if (pid_ > 0) {
    int status = 0;
    for (int i = 0; i < 100; ++i) {  // up to 10 s for a clean exit (it restores nr_hugepages)
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        break;
      }
      ::usleep(100000);
    }
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, &status, 0);
    }
  }
  if (from_child_ >= 0) ::close(from_child_);
}

Result<std::string> VmmFixtureProcess::ReadLine() {
  while (true) {
    size_t nl = pending_.find('\n');
    if (nl != std::string::npos) {
      std::string line = pending_.substr(0, nl);
      pending_.erase(0, nl + 1);
      return line;
    }
    pollfd p{from_child_, POLLIN, 0};
    int r = ::poll(&p, 1, 60000);
    if (r == 0) return Status::IoError("vmm_fixture did not answer within 60 s");
    if (r < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno("poll", errno);
    }
    char buf[4096];
    ssize_t n = ::read(from_child_, buf, sizeof(buf));
    if (n <= 0) return Status::IoError("vmm_fixture exited");
    pending_.append(buf, static_cast<size_t>(n));
  }
}

std::string VmmFixtureProcess::DeclarationJson() const {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(report_.declaration(), &json, options).ok())
    return "";
  return json;
}

const fixture::v1::FixtureFile* VmmFixtureProcess::File(const std::string& name) const {
  for (const fixture::v1::FixtureFile& f : report_.files())
    if (f.name() == name) return &f;
  return nullptr;
}

int VmmFixtureProcess::Fd(const std::string& name) const {
  const fixture::v1::FixtureFile* f = File(name);
  return f ? f->fd() : -1;
}

Status VmmFixtureProcess::Command(const std::string& line) {
  const std::string l = line + "\n";
  if (::write(to_child_, l.data(), l.size()) != static_cast<ssize_t>(l.size()))
    return Status::FromErrno("write to vmm_fixture", errno);
  auto reply = ReadLine();
  if (!reply.ok()) return reply.status();
  if (*reply == "ok") return Status::Ok();
  return Status::Internal("vmm_fixture: " + *reply);
}

}  // namespace khod
