// khoctl verify OUT --pid P --fd N [--fd M ...] [--memslots FILE] [--attributes FILE] [--json]
// Captures the live state again and compares it with the snapshot OUT.
// Exit 0 equal, 1 different (each difference printed), 2 error, 3 no
// difference where observable but parts not verified (each named): the same
// reply, text and JSON as the gRPC form (verify/verify_reply.h).
#include <sys/types.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "capture/snapshot_capture.h"
#include "common/printable.h"
#include "khoctl/commands.h"
#include "khoctl/flag_parser.h"
#include "khoctl/live_capture.h"
#include "khoctl/snapshot_file.h"
#include "khoctl/status_report.h"
#include "khoctl/usage.h"
#include "verify/snapshot_diff.h"
#include "verify/verify_counts.h"
#include "verify/verify_reply.h"

namespace khod {

// Fail, with the message escaped (common/printable.h): it names files by
// what the snapshot and the VMM's memfds call them.
static int FailNamingFiles(const Status& s) {
  std::fprintf(stderr, "khoctl verify: %s\n", EscapeNonPrintable(s.ToString()).c_str());
  return kExitError;
}

int RunVerify(const Args& args_in) {
  Args args = args_in;
  auto fds = ExtractFdFlags(&args);
  if (!fds.ok()) return FailWithUsage("verify", kVerifyLiveUsage, fds.status());
  Result<ParsedFlags> flags = ParseFlags(
      args, {{"--pid", true}, {"--memslots", true}, {"--attributes", true}, {"--json", false}});
  if (!flags.ok()) return FailWithUsage("verify", kVerifyLiveUsage, flags.status());
  if (flags->positionals().size() != 1)
    return FailWithUsage("verify", kVerifyLiveUsage,
                         Status::InvalidArgument("expected exactly one snapshot file"));
  if (fds->empty())
    return FailWithUsage("verify", kVerifyLiveUsage, Status::InvalidArgument("missing --fd N"));
  auto pid = PidFlag(*flags);
  if (!pid.ok()) return FailWithUsage("verify", kVerifyLiveUsage, pid.status());

  auto expected = LoadSnapshotFile(flags->positionals()[0]);
  if (!expected.ok()) return Fail("verify", expected.status());
  // What the VMM declared then is what it declares now, unless given again.
  Result<v1::VmmDeclaration> decl = Status::Internal("unset");
  const bool declared = flags->Has("--memslots") || flags->Has("--attributes");
  if (declared)
    decl = LoadDeclarations(flags->Get("--memslots"), flags->Get("--attributes"));
  else
    decl = DeclarationFromSnapshot(expected->snap, *pid, *fds);
  if (!decl.ok()) return FailNamingFiles(decl.status());
  bool hashed = false;
  for (const auto& g : expected->snap.gmems) hashed |= !g.hashes.empty();
  auto found = CaptureLive(*pid, *fds, *decl, hashed);
  if (!found.ok()) return Fail("verify", found.status());
  // The capture names each file by its inode; a snapshot of khod's
  // (`khoctl snapshot`) by the token it attached it as. The same file (kind
  // and inode) gets the snapshot's token, so the diff pairs them.
  std::vector<uint64_t> fd_inodes;  // found->gmems is in --fd order
  for (const GuestMemfd& g : found->gmems) fd_inodes.push_back(g.inode);
  if (Status t = TakeSnapshotTokens(expected->snap, &*found); !t.ok()) return FailNamingFiles(t);
  // Declared as the snapshot was, its names too: an empty one (khod's for a
  // file attached without --name) the capture filled with the memfd's name.
  if (!declared)
    for (GuestMemfd& g : found->gmems)
      if (const GuestMemfd* e = expected->snap.FindGmem(g.token)) g.name = e->name;
  // A file of the snapshot no --fd named was not captured: not seen, so never "missing".
  std::string not_given;
  for (const GuestMemfd& g : expected->snap.gmems)
    if (!found->FindGmem(g.token))
      not_given +=
          (not_given.empty() ? "" : ", ") +
          ("'" + EscapeNonPrintable(g.name) + "' (token " + std::to_string(g.token) + ", " +
           FileKindName(g.kind) +
           (g.inode ? " inode " + std::to_string(g.inode) : std::string(", no inode")) + ")");
  std::string given;
  for (size_t i = 0; i < fd_inodes.size() && i < fds->size(); ++i)
    given += (given.empty() ? "" : ", ") +
             ("fd " + std::to_string((*fds)[i]) + " is inode " + std::to_string(fd_inodes[i]));
  if (!not_given.empty())
    return Fail("verify",
                Status::InvalidArgument(
                    "no --fd names the snapshot's " + not_given + " (" + given +
                    "; files are matched by kind and inode): verify compares every file of the "
                    "snapshot, and a file it did not capture is not known to be missing"));

  v1::VerifyReply reply;
  FillVerifyReply(DiffSnapshots(expected->snap, *found), CountCompared(expected->snap, *found),
                  &reply);
  return PrintVerifyReply(reply, flags->Has("--json"));
}

}  // namespace khod
