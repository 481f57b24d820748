// khoctl status: what khod's session is doing, over gRPC.
#include <cstdio>

#include "khoctl/client.h"
#include "khoctl/commands.h"
#include "khoctl/flag_parser.h"
#include "khoctl/khod_call.h"
#include "khoctl/proto_json.h"
#include "khoctl/status_report.h"
#include "khoctl/usage.h"

namespace khod {

int RunStatus(const Args& args) {
  Result<ParsedFlags> f = ParseFlags(args, {{"--socket", true}, {"--json", false}});
  if (!f.ok()) return FailWithUsage("status", kStatusUsage, f.status());
  if (Status bad = RefuseArguments(f->positionals()); !bad.ok())
    return FailWithUsage("status", kStatusUsage, bad);
  const std::string socket = f->Get("--socket", DefaultSocket());
  KhodClient client(socket);
  Result<v1::StatusReply> s = client.GetStatus();
  if (!s.ok()) return FailKhodCall("status", socket, s.status());
  if (f->Has("--json")) return PrintJson("status", *s);
  std::fputs(FormatStatus(*s).c_str(), stdout);
  return kExitOk;
}

}  // namespace khod
