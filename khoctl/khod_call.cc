#include "khoctl/khod_call.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "common/printable.h"
#include "khoctl/flag_parser.h"
#include "khoctl/proto_json.h"
#include "khoctl/status_report.h"

namespace khod {

Status RefuseArguments(const std::vector<std::string>& positionals) {
  if (positionals.empty()) return Status::Ok();
  return Status::InvalidArgument("unexpected argument '" + positionals[0] + "'");
}

const char* GrpcCodeName(Status::Code c) {
  using C = Status::Code;
  switch (c) {
    case C::kOk:
      return "OK";
    case C::kInvalidArgument:
      return "INVALID_ARGUMENT";
    case C::kCorruption:
      return "DATA_LOSS";
    case C::kUnsupported:
      return "UNIMPLEMENTED";
    case C::kNotFound:
      return "NOT_FOUND";
    case C::kFailedPrecondition:
      return "FAILED_PRECONDITION";
    case C::kPermissionDenied:
      return "PERMISSION_DENIED";
    case C::kBusy:
      return "UNAVAILABLE";
    case C::kResourceExhausted:
      return "RESOURCE_EXHAUSTED";
    case C::kIoError:
    case C::kInternal:
      return "INTERNAL";
  }
  return "UNKNOWN";
}

namespace {

// Why nothing accepts on `path` ("" when something does). UNAVAILABLE alone
// cannot tell a missing daemon from a busy one, so ask the socket itself.
std::string WhyUnreachable(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.size() >= sizeof(a.sun_path)) return "socket path too long";
  std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::strerror(errno);
  const int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof(a));
  const int err = errno;
  ::close(fd);
  return rc == 0 ? "" : std::strerror(err);
}

}  // namespace

int FailKhodCall(const char* command, const std::string& socket, const Status& s) {
  // No answer came (KhodClient's deadline, a cancelled call): khod said nothing.
  if (s.code() == Status::Code::kIoError) {
    std::fprintf(stderr, "khoctl %s: %s\n", command, EscapeNonPrintable(s.message()).c_str());
    return kExitError;
  }
  if (s.code() == Status::Code::kBusy) {
    const std::string why = WhyUnreachable(socket);
    if (!why.empty()) {
      std::fprintf(stderr,
                   "khoctl %s: cannot reach khod at %s: %s (is khod running? --socket PATH)\n",
                   command, socket.c_str(), why.c_str());
      return kExitError;
    }
  }
  std::fprintf(stderr, "khoctl %s: khod said %s: %s\n", command, GrpcCodeName(s.code()),
               EscapeNonPrintable(s.message()).c_str());
  return kExitError;
}

// The --socket (and --json, where `json` is given) of a command that takes
// nothing else; kExitError already reported (with the usage line) when the
// arguments are wrong.
static Result<std::string> SocketOnly(const char* command, const char* usage, const Args& args,
                                      bool* json = nullptr) {
  std::vector<FlagSpec> specs = {{"--socket", true}};
  if (json != nullptr) specs.push_back({"--json", false});
  Result<ParsedFlags> f = ParseFlags(args, specs);
  Status s = f.ok() ? RefuseArguments(f->positionals()) : f.status();
  if (!s.ok()) {
    FailWithUsage(command, usage, s);
    return s;
  }
  if (json) *json = f->Has("--json");
  return f->Get("--socket", DefaultSocket());
}

int RunPhaseCommand(const char* command, const char* usage, const Args& args,
                    Result<v1::PhaseReply> (KhodClient::*call)()) {
  bool json = false;
  Result<std::string> socket = SocketOnly(command, usage, args, &json);
  if (!socket.ok()) return kExitError;
  KhodClient client(*socket);
  Result<v1::PhaseReply> r = (client.*call)();
  if (!r.ok()) return FailKhodCall(command, *socket, r.status());
  if (json) return PrintJson(command, *r);
  std::printf("%s: %s\n", PhaseText(r->phase()).c_str(), EscapeNonPrintable(r->message()).c_str());
  return kExitOk;
}

int RunKhodVerify(const char* command, const char* usage, const Args& args) {
  Result<ParsedFlags> f = ParseFlags(args, {{"--socket", true}, {"--json", false}});
  Status s = f.ok() ? RefuseArguments(f->positionals()) : f.status();
  if (!s.ok()) return FailWithUsage(command, usage, s);
  const std::string socket = f->Get("--socket", DefaultSocket());
  KhodClient client(socket);
  Result<v1::VerifyReply> v = client.Verify();
  if (!v.ok()) return FailKhodCall(command, socket, v.status());
  return PrintVerifyReply(*v, f->Has("--json"));
}

}  // namespace khod
