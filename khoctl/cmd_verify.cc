// khoctl verify OUT --pid P --fd N [--fd M ...] [--memslots FILE] [--attributes FILE]
// Captures the live state again and compares it with the snapshot OUT.
// Exit 0 equal, 1 different (each difference printed), 2 error.
#include <sys/types.h>

#include <cstdio>

#include "capture/snapshot_capture.h"
#include "khoctl/commands.h"
#include "khoctl/flag_parser.h"
#include "khoctl/live_capture.h"
#include "khoctl/snapshot_file.h"
#include "verify/snapshot_diff.h"

namespace khod {

namespace {
constexpr const char* kUsage =
    "verify OUT --pid P --fd N [--fd M ...] [--memslots FILE] [--attributes FILE]";
}  // namespace

int RunVerify(const Args& args_in) {
  Args args = args_in;
  auto fds = ExtractFdFlags(&args);
  if (!fds.ok()) return FailWithUsage("verify", kUsage, fds.status());
  Result<ParsedFlags> flags =
      ParseFlags(args, {{"--pid", true}, {"--memslots", true}, {"--attributes", true}});
  if (!flags.ok()) return FailWithUsage("verify", kUsage, flags.status());
  if (flags->positionals().size() != 1)
    return FailWithUsage("verify", kUsage, Status::InvalidArgument("expected exactly one snapshot file"));
  if (fds->empty()) return FailWithUsage("verify", kUsage, Status::InvalidArgument("missing --fd N"));
  auto pid = PidFlag(*flags);
  if (!pid.ok()) return FailWithUsage("verify", kUsage, pid.status());

  auto expected = LoadSnapshotFile(flags->positionals()[0]);
  if (!expected.ok()) return Fail("verify", expected.status());
  // What the VMM declared then is what it declares now, unless given again.
  Result<VmmDeclaration> decl = Status::Internal("unset");
  if (flags->Has("--memslots") || flags->Has("--attributes"))
    decl = LoadDeclarations(flags->Get("--memslots"), flags->Get("--attributes"));
  else
    decl = DeclarationFromSnapshot(expected->snap, *pid, *fds);
  if (!decl.ok()) return Fail("verify", decl.status());
  bool hashed = false;
  for (const auto& g : expected->snap.gmems) hashed |= !g.hashes.empty();
  auto found = CaptureLive(*pid, *fds, *decl, hashed);
  if (!found.ok()) return Fail("verify", found.status());

  DiffOptions opts;
  opts.require_hashes = hashed;
  const auto diffs = DiffSnapshots(expected->snap, *found, opts);
  for (const auto& d : diffs) std::printf("%s\n", d.ToString().c_str());
  if (diffs.empty()) {
    std::printf("equal: %zu guest_memfd(s), %zu VM(s) match %s\n", found->gmems.size(),
                found->vms.size(), flags->positionals()[0].c_str());
    return kExitOk;
  }
  std::printf("%zu difference(s)\n", diffs.size());
  return kExitDifferent;
}

}  // namespace khod
