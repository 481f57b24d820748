// khoctl verify has two forms, told apart by their arguments:
//   verify OUT --pid P --fd N ...   offline: capture the live state again and
//                                   compare it with OUT (cmd_verify.cc, no daemon)
//   verify [--socket PATH]          khod compares the restored gmems with its
//                                   frozen snapshot (the new side of a handover)
// No snapshot argument and no --pid, or a --socket, means the gRPC form.
// Both print the differences (or, with --json, the VerifyReply as JSON) and
// exit 0 equal, 1 different, 2 error, 3 no difference where observable but
// parts not verified (verify/verdict.h).
#include <string>

#include "khoctl/commands.h"
#include "khoctl/khod_call.h"
#include "khoctl/usage.h"

namespace khod {

int RunVerify(const Args& args);  // cmd_verify.cc: the offline form

static bool IsFlag(const std::string& a, const char* name) {
  const std::string n = name;
  return a == n || a.rfind(n + "=", 0) == 0;
}

int RunVerifyCommand(const Args& args) {
  bool socket = false, pid = false, snapshot = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    socket |= IsFlag(a, "--socket");
    pid |= IsFlag(a, "--pid");
    if (a.empty() || a[0] != '-') {
      snapshot = true;
      continue;
    }
    // Skip the value of a flag that takes one (either form's).
    for (const char* v : {"--socket", "--pid", "--fd", "--memslots", "--attributes"})
      if (a == v) ++i;
  }
  if (socket || (!pid && !snapshot)) return RunKhodVerify("verify", kVerifyKhodUsage, args);
  return RunVerify(args);
}

}  // namespace khod
