// khoctl restore / verify-restore: the new side of a handover, over gRPC.
//   restore        Restore (adopt or rebuild every gmem), then Verify unless --no-verify
//   verify-restore Verify only: prints the diff; exit 0 equal, 1 different, 2 error
#include <cstdio>

#include "khoctl/client.h"
#include "khoctl/commands.h"
#include "khoctl/flag_parser.h"
#include "khoctl/khod_call.h"
#include "khoctl/status_report.h"

namespace khod {

static const char kRestoreUsage[] =
    "restore [--socket PATH] [--force-rebuild] [--from-state-dir] [--no-verify]";
static const char kVerifyUsage[] = "verify-restore [--socket PATH]";

static int PrintVerify(const std::string& socket, KhodClient* client) {
  Result<v1::VerifyReply> v = client->Verify();
  if (!v.ok()) return FailKhodCall("restore", socket, v.status());
  std::fputs(FormatVerify(*v).c_str(), stdout);
  return v->equal() ? kExitOk : kExitDifferent;
}

int RunRestore(const Args& args) {
  Result<ParsedFlags> f = ParseFlags(args, {{"--socket", true},
                                            {"--force-rebuild", false},
                                            {"--from-state-dir", false},
                                            {"--no-verify", false}});
  if (!f.ok()) return FailWithUsage("restore", kRestoreUsage, f.status());
  if (Status s = RefuseArguments(f->positionals()); !s.ok())
    return FailWithUsage("restore", kRestoreUsage, s);
  const std::string socket = f->Get("--socket", kDefaultSocket);
  KhodClient client(socket);
  v1::RestoreRequest q;
  q.set_force_rebuild(f->Has("--force-rebuild"));
  q.set_from_state_dir(f->Has("--from-state-dir"));
  Result<v1::PhaseReply> r = client.Restore(q);
  if (!r.ok()) return FailKhodCall("restore", socket, r.status());
  std::printf("%s: %s\n", v1::Phase_Name(r->phase()).c_str(), r->message().c_str());
  return f->Has("--no-verify") ? kExitOk : PrintVerify(socket, &client);
}

// An alias of the gRPC form of `khoctl verify`.
int RunVerifyRestore(const Args& args) {
  return RunKhodVerify("verify-restore", kVerifyUsage, args);
}

}  // namespace khod
