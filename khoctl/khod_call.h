// What khoctl's session commands (attach, detach, prepare, freeze, finish,
// cancel, verify over gRPC) share: reporting a failed call to khod the same
// way everywhere, and the plain "--socket only" phase command.
#ifndef KHOD_KHOCTL_KHOD_CALL_H_
#define KHOD_KHOCTL_KHOD_CALL_H_

#include <string>
#include <vector>

#include "common/status.h"
#include "khoctl/client.h"
#include "khoctl/commands.h"

namespace khod {

// InvalidArgument naming the first positional argument, if any: these
// commands take flags only.
Status RefuseArguments(const std::vector<std::string>& positionals);

// The gRPC code khod sent for `s` ("FAILED_PRECONDITION", ...), as
// daemon/khod_service.cc maps khod codes to gRPC.
const char* GrpcCodeName(Status::Code c);

// Prints to stderr, returns kExitError:
//   "khoctl CMD: cannot reach khod at SOCKET: <why> (is khod running? --socket PATH)"
// when nothing accepts on the socket,
//   "khoctl CMD: khod did not answer Verify within 120 s (is it stopped or busy?); ..."
// when no answer came (IoError: khoctl's deadline, khoctl/client.h), else
//   "khoctl CMD: khod said FAILED_PRECONDITION: <khod's message>".
int FailKhodCall(const char* command, const std::string& socket, const Status& s);

// prepare, finish, cancel: parses [--socket PATH] [--json], makes the call,
// prints "PHASE: message" (or the PhaseReply as JSON); exit 0, or 2 through
// FailKhodCall.
int RunPhaseCommand(const char* command, const char* usage, const Args& args,
                    Result<v1::PhaseReply> (KhodClient::*call)());

// verify over gRPC (and verify-restore): the diff; exit 0 equal, 1 different, 2 error,
// 3 not verified.
int RunKhodVerify(const char* command, const char* usage, const Args& args);

}  // namespace khod

#endif  // KHOD_KHOCTL_KHOD_CALL_H_
