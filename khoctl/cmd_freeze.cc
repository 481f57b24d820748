// khoctl freeze --guests-paused [--transport dir|reexec|luo] [--format fdt|proto]
//               [--dir NAME] [--socket PATH] [--json]
// The final capture and the handover. The operator must have paused every
// guest: khod cannot, and a capture of running guests is not final, so
// khoctl refuses before calling khod unless --guests-paused says so.
// After a reexec handover it waits for the re-executed khod to answer.
// --json: the PhaseReply alone on stdout (the new khod's line on stderr).
#include <chrono>
#include <cstdio>

#include "common/printable.h"
#include "khoctl/blob_format_flag.h"
#include "khoctl/commands.h"
#include "khoctl/flag_parser.h"
#include "khoctl/khod_call.h"
#include "khoctl/proto_json.h"
#include "khoctl/usage.h"

namespace khod {

static Result<v1::Transport> ParseTransport(const std::string& t) {
  if (t.empty()) return v1::TRANSPORT_UNSPECIFIED;  // khod's --transport
  if (t == "dir") return v1::DIR;
  if (t == "reexec") return v1::REEXEC;
  if (t == "luo") return v1::LUO;
  return Status::InvalidArgument("transport '" + t + "' is not dir, reexec or luo");
}

int RunFreeze(const Args& args) {
  Result<ParsedFlags> f = ParseFlags(args, {{"--guests-paused", false},
                                            {"--transport", true},
                                            {"--format", true},
                                            {"--dir", true},
                                            {"--socket", true},
                                            {"--json", false}});
  if (!f.ok()) return FailWithUsage("freeze", kFreezeUsage, f.status());
  if (Status s = RefuseArguments(f->positionals()); !s.ok())
    return FailWithUsage("freeze", kFreezeUsage, s);
  if (!f->Has("--guests-paused"))
    return FailWithUsage(
        "freeze", kFreezeUsage,
        Status::FailedPrecondition(
            "pause every guest first, then pass --guests-paused: khod cannot pause them, and a "
            "capture of running guests is not a final one"));
  Result<v1::Transport> transport = ParseTransport(f->Get("--transport"));
  if (!transport.ok()) return FailWithUsage("freeze", kFreezeUsage, transport.status());
  v1::FreezeRequest q;
  q.set_guests_paused(true);
  q.set_transport(*transport);
  if (f->Has("--format")) {
    Result<BlobFormat> fmt = ParseBlobFormat(f->Get("--format"));
    if (!fmt.ok()) return FailWithUsage("freeze", kFreezeUsage, fmt.status());
    q.set_format(*fmt == BlobFormat::kProto ? v1::PROTO : v1::FDT);
  }
  if (f->Has("--dir") && *transport != v1::DIR)
    return FailWithUsage("freeze", kFreezeUsage,
                         Status::InvalidArgument("--dir goes with --transport dir"));
  q.set_dir(f->Get("--dir"));

  const std::string socket = f->Get("--socket", DefaultSocket());
  KhodClient client(socket);
  Result<v1::StatusReply> before = client.GetStatus();
  if (!before.ok()) return FailKhodCall("freeze", socket, before.status());
  Result<v1::PhaseReply> r = client.Freeze(q);
  if (!r.ok()) return FailKhodCall("freeze", socket, r.status());
  const bool json = f->Has("--json");
  if (!json)
    std::printf("%s: %s\n", PhaseText(r->phase()).c_str(),
                EscapeNonPrintable(r->message()).c_str());
  // A reexec handover (asked for, or khod's default) ends this khod: the next
  // command must find the new one, so wait for it here.
  Result<v1::StatusReply> now = client.GetStatus();
  const bool reexec = *transport == v1::REEXEC || !now.ok() || now->transport() == v1::REEXEC;
  if (!reexec) return json ? PrintJson("freeze", *r) : kExitOk;
  if (!now.ok() || now->incarnation() == before->incarnation())
    now = client.WaitNewIncarnation(before->incarnation(), std::chrono::seconds(30));
  if (!now.ok()) return FailKhodCall("freeze", socket, now.status());
  std::fprintf(json ? stderr : stdout, "new khod serving (pid %u, reexecs %llu): %s\n", now->pid(),
               static_cast<unsigned long long>(now->exec_count()),
               EscapeNonPrintable(now->recovery()).c_str());
  return json ? PrintJson("freeze", *r) : kExitOk;
}

}  // namespace khod
