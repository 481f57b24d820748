// khoctl probe [--json]: what the running kernel supports for khod.
#include <cstdio>

#include "kernel/probe.h"
#include "khoctl/commands.h"
#include "khoctl/flag_parser.h"

namespace khod {

int RunProbe(const Args& args) {
  Result<ParsedFlags> flags = ParseFlags(args, {{"--json", false}});
  if (!flags.ok()) return FailWithUsage("probe", "probe [--json]", flags.status());
  if (!flags->positionals().empty())
    return FailWithUsage("probe", "probe [--json]", Status::InvalidArgument("probe takes no FILE"));
  const KernelCaps caps = ProbeKernel();
  const std::string text = flags->Has("--json") ? CapsToJson(caps) + "\n" : CapsToText(caps);
  std::fputs(text.c_str(), stdout);
  return kExitOk;
}

}  // namespace khod
