// khoctl probe [--json] [--debugfs DIR]: what the running kernel supports for
// khod, and what a KHO kexec handed this kernel (DIR/kho/in, default
// /sys/kernel/debug).
#include <cstdio>

#include "handover/kho_debugfs.h"
#include "kernel/probe.h"
#include "khoctl/commands.h"
#include "khoctl/flag_parser.h"
#include "khoctl/json_writer.h"

namespace khod {
namespace {

constexpr const char* kUsage = "probe [--json] [--debugfs DIR]";

// {"present":..,"summary":..} or {"error":..}: a malformed incoming tree is
// reported, it does not fail the probe.
std::string IncomingJson(const Result<KhoIncoming>& in) {
  JsonWriter w;
  w.BeginObject();
  if (!in.ok()) {
    w.Key("error").String(in.status().ToString());
  } else {
    w.Key("present").Bool(in->present);
    w.Key("summary").String(in->Summary());
    if (in->present) {
      w.Key("bytes").Uint(in->fdt_bytes);
      w.Key("compatible").String(in->compatible);
      w.Key("sub_fdts").BeginArray();
      for (const KhoSubtree& t : in->subtrees) {
        w.BeginObject();
        w.Key("name").String(t.name);
        w.Key("compatible").String(t.compatible);
        w.Key("bytes").Uint(t.bytes);
        w.Key("problem").String(t.problem);
        w.EndObject();
      }
      w.EndArray();
    }
  }
  w.EndObject();
  return w.str();
}

// JsonWriter's indented output as one line like CapsToJson's: whitespace
// outside strings dropped.
std::string OneLine(const std::string& json) {
  std::string out;
  bool in_string = false, escaped = false;
  for (char c : json) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == ' ' || c == '\n') {
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

int RunProbe(const Args& args) {
  Result<ParsedFlags> flags = ParseFlags(args, {{"--json", false}, {"--debugfs", true}});
  if (!flags.ok()) return FailWithUsage("probe", kUsage, flags.status());
  if (!flags->positionals().empty())
    return FailWithUsage("probe", kUsage, Status::InvalidArgument("probe takes no FILE"));
  const KernelCaps caps = ProbeKernel();
  const Result<KhoIncoming> in = ReadKhoIncoming(flags->Get("--debugfs", kDefaultDebugfsRoot));
  std::string text;
  if (flags->Has("--json")) {
    // The caps object with one more member.
    text = CapsToJson(caps);
    text.pop_back();
    text += ",\"kho_incoming\":" + OneLine(IncomingJson(in)) + "}\n";
  } else {
    text = CapsToText(caps) + "kho_incoming      " +
           (in.ok() ? in->Summary() : "unusable: " + in.status().ToString()) + "\n";
  }
  std::fputs(text.c_str(), stdout);
  return kExitOk;
}

}  // namespace khod
