// khoctl probe [--json] [--debugfs DIR]: what the running kernel supports for
// khod, and what a KHO kexec handed this kernel (DIR/kho/in, default
// /sys/kernel/debug). --json: khoctl/probe_report.proto on one line.
#include <cstdio>

#include "handover/kho_debugfs.h"
#include "kernel/probe.h"
#include "khoctl/commands.h"
#include "khoctl/flag_parser.h"
#include "khoctl/probe_report.h"
#include "khoctl/proto_json.h"
#include "khoctl/usage.h"

namespace khod {
int RunProbe(const Args& args) {
  Result<ParsedFlags> flags = ParseFlags(args, {{"--json", false}, {"--debugfs", true}});
  if (!flags.ok()) return FailWithUsage("probe", kProbeUsage, flags.status());
  if (!flags->positionals().empty())
    return FailWithUsage("probe", kProbeUsage, Status::InvalidArgument("probe takes no FILE"));
  const KernelCaps caps = ProbeKernel();
  const Result<KhoIncoming> in = ReadKhoIncoming(flags->Get("--debugfs", kDefaultDebugfsRoot));
  // A malformed incoming tree is reported, it does not fail the probe.
  if (flags->Has("--json")) return PrintJson("probe", ProbeReportOf(caps, in));
  const std::string text = CapsToText(caps) + "kho_incoming      " +
                           (in.ok() ? in->Summary() : "unusable: " + in.status().ToString()) + "\n";
  std::fputs(text.c_str(), stdout);
  return kExitOk;
}

}  // namespace khod
