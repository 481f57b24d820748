// khoctl fds: which fd of khod holds each restored memory file, for the
// restarted VMM (or an operator's script) to take back with
// pidfd_getfd(pidfd_open(PID), FD). One line per gmem:
//   TOKEN NAME KIND PID FD OWNER
// FD "-" where khod holds nothing to take back; OWNER the uid that attached
// it ("?" from a khod that does not say); then, for a file whose NUMA policy lived in the VMM's
// mappings (guest_memfd without a shared policy), one line per range the VMM mbinds again:
//   policy for the VMM: gmem TOKEN pages FIRST-LAST bind nodes=0
// Exit 0 whatever the phase (a line on stderr says when no fd is held), 2 on error.
#include <cstdio>

#include "khoctl/client.h"
#include "khoctl/commands.h"
#include "khoctl/flag_parser.h"
#include "khoctl/khod_call.h"
#include "khoctl/proto_json.h"
#include "khoctl/status_report.h"
#include "khoctl/usage.h"

namespace khod {

int RunFds(const Args& args) {
  Result<ParsedFlags> f = ParseFlags(args, {{"--socket", true}, {"--json", false}});
  if (!f.ok()) return FailWithUsage("fds", kFdsUsage, f.status());
  if (Status bad = RefuseArguments(f->positionals()); !bad.ok())
    return FailWithUsage("fds", kFdsUsage, bad);
  const std::string socket = f->Get("--socket", DefaultSocket());
  KhodClient client(socket);
  Result<v1::StatusReply> s = client.GetStatus();
  if (!s.ok()) return FailKhodCall("fds", socket, s.status());
  if (f->Has("--json")) {  // the same facts: khod's pid, phase, and each gmem's khod_fd
    v1::StatusReply fds;
    fds.set_pid(s->pid());
    fds.set_phase(s->phase());
    *fds.mutable_gmems() = s->gmems();
    return PrintJson("fds", fds);
  }
  std::fputs(FormatFds(*s).c_str(), stdout);
  int held = 0;
  for (const auto& g : s->gmems()) held += g.khod_fd() != 0;
  if (!held)
    std::fprintf(stderr,
                 "khoctl fds: khod holds no restored file to take back in phase %s (only from "
                 "RESTORED until Finish)\n",
                 v1::Phase_Name(s->phase()).c_str());
  return kExitOk;
}

}  // namespace khod
