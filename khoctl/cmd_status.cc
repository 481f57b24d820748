// khoctl status: what khod's session is doing, over gRPC.
#include <cstdio>

#include "khoctl/client.h"
#include "khoctl/commands.h"
#include "khoctl/flag_parser.h"
#include "khoctl/status_report.h"

namespace khod {

static const char kStatusUsage[] = "status [--socket PATH]";

int RunStatus(const Args& args) {
  Result<ParsedFlags> f = ParseFlags(args, {{"--socket", true}});
  if (!f.ok()) return FailWithUsage("status", kStatusUsage, f.status());
  KhodClient client(f->Get("--socket", kDefaultSocket));
  Result<v1::StatusReply> s = client.GetStatus();
  if (!s.ok()) {
    std::fprintf(stderr, "khoctl status: %s\n", s.status().ToString().c_str());
    return kExitError;
  }
  std::fputs(FormatStatus(*s).c_str(), stdout);
  return kExitOk;
}

}  // namespace khod
