// khoctl restore / verify-restore: the new side of a handover, over gRPC.
//   restore        Restore (adopt or rebuild every gmem), then Verify unless --no-verify;
//                  --json: the PhaseReply on one line, then the VerifyReply on the next
//                  (khoctl/proto_json.h), exit code as without
//   verify-restore Verify only: prints the diff; exit 0 equal, 1 different, 2 error,
//                  3 not verified
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string_view>

#include "common/numbers.h"
#include "common/printable.h"
#include "khoctl/client.h"
#include "khoctl/commands.h"
#include "khoctl/flag_parser.h"
#include "khoctl/khod_call.h"
#include "khoctl/proto_json.h"
#include "khoctl/status_report.h"
#include "khoctl/usage.h"

namespace khod {

// Exactly four decimal numbers separated by ':'.
static bool ParseColonFields(std::string_view item, uint64_t v[4]) {
  for (int i = 0; i < 4; ++i) {
    const size_t colon = i < 3 ? item.find(':') : item.size();
    if (colon == std::string_view::npos) return false;
    const std::optional<uint64_t> n = ParseU64(item.substr(0, colon));
    if (!n) return false;
    v[i] = *n;
    item.remove_prefix(std::min(colon + 1, item.size()));
  }
  return true;
}

// --rebuild-into: guest_memfds the restarted VMM made on its VMs, as
// TOKEN:VM_TOKEN:PID:FD items separated by commas.
static Status ParseRebuildInto(const std::string& text, v1::RestoreRequest* q) {
  size_t start = 0;
  while (start <= text.size()) {
    const size_t end = std::min(text.find(',', start), text.size());
    const std::string item = text.substr(start, end - start);
    uint64_t v[4];
    if (!ParseColonFields(item, v) || v[2] > 0x7fffffff || v[3] > 0x7fffffff)
      return Status::InvalidArgument("--rebuild-into: '" + item +
                                     "' is not TOKEN:VM_TOKEN:PID:FD (decimal numbers)");
    v1::RebuildTarget* t = q->add_rebuild_into();
    t->set_token(v[0]);
    t->set_vm_token(v[1]);
    t->set_pid(static_cast<int32_t>(v[2]));
    t->set_fd(static_cast<int32_t>(v[3]));
    start = end + 1;
  }
  return Status::Ok();
}

static int PrintVerify(const std::string& socket, KhodClient* client, bool json) {
  Result<v1::VerifyReply> v = client->Verify();
  if (!v.ok()) return FailKhodCall("restore", socket, v.status());
  return PrintVerifyReply(*v, json);
}

int RunRestore(const Args& args) {
  Result<ParsedFlags> f = ParseFlags(args, {{"--socket", true},
                                            {"--force-rebuild", false},
                                            {"--from-state-dir", false},
                                            {"--no-verify", false},
                                            {"--rebuild-into", true},
                                            {"--json", false}});
  if (!f.ok()) return FailWithUsage("restore", kRestoreUsage, f.status());
  if (Status s = RefuseArguments(f->positionals()); !s.ok())
    return FailWithUsage("restore", kRestoreUsage, s);
  const std::string socket = f->Get("--socket", DefaultSocket());
  KhodClient client(socket);
  v1::RestoreRequest q;
  q.set_force_rebuild(f->Has("--force-rebuild"));
  q.set_from_state_dir(f->Has("--from-state-dir"));
  if (f->Has("--rebuild-into"))
    if (Status s = ParseRebuildInto(f->Get("--rebuild-into"), &q); !s.ok())
      return FailWithUsage("restore", kRestoreUsage, s);
  Result<v1::PhaseReply> r = client.Restore(q);
  if (!r.ok()) return FailKhodCall("restore", socket, r.status());
  const bool json = f->Has("--json");
  if (json) {
    if (const int printed = PrintJson("restore", *r); printed != kExitOk) return printed;
  } else {
    std::printf("%s: %s\n", v1::Phase_Name(r->phase()).c_str(),
                EscapeNonPrintable(r->message()).c_str());
  }
  return f->Has("--no-verify") ? kExitOk : PrintVerify(socket, &client, json);
}

// An alias of the gRPC form of `khoctl verify`.
int RunVerifyRestore(const Args& args) {
  return RunKhodVerify("verify-restore", kVerifyRestoreUsage, args);
}

}  // namespace khod
