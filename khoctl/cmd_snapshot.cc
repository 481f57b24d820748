// khoctl snapshot: fetch khod's current snapshot blob (the frozen one, else
// the prepared one, or a fresh capture with --recapture) and write it to a file.
// What it wrote is said on stderr: -o /dev/stdout is the blob alone.
#include <cstdio>

#include "khoctl/blob_format_flag.h"
#include "khoctl/client.h"
#include "khoctl/commands.h"
#include "khoctl/file_io.h"
#include "khoctl/flag_parser.h"
#include "khoctl/khod_call.h"
#include "khoctl/usage.h"

namespace khod {

int RunSnapshot(const Args& args) {
  Result<ParsedFlags> f = ParseFlags(
      args,
      {{"--output", true, "-o"}, {"--socket", true}, {"--format", true}, {"--recapture", false}});
  if (!f.ok()) return FailWithUsage("snapshot", kSnapshotUsage, f.status());
  if (Status s = RefuseArguments(f->positionals()); !s.ok())
    return FailWithUsage("snapshot", kSnapshotUsage, s);
  if (!f->Has("--output"))
    return FailWithUsage("snapshot", kSnapshotUsage, Status::InvalidArgument("-o OUT is required"));
  Result<BlobFormat> fmt = ParseBlobFormat(f->Get("--format", "fdt"));
  if (!fmt.ok()) return FailWithUsage("snapshot", kSnapshotUsage, fmt.status());
  v1::SnapshotRequest q;
  q.set_format(*fmt == BlobFormat::kProto ? v1::PROTO : v1::FDT);
  q.set_recapture(f->Has("--recapture"));
  const std::string socket = f->Get("--socket", DefaultSocket());
  KhodClient client(socket);
  Result<v1::SnapshotReply> r = client.GetSnapshot(q);
  if (!r.ok()) return FailKhodCall("snapshot", socket, r.status());
  Status w = WriteWholeFile(f->Get("--output"), r->blob());
  if (!w.ok()) return Fail("snapshot", w);
  // On stderr, as capture's: -o /dev/stdout is the blob alone.
  std::fprintf(stderr, "wrote %zu bytes (%s, phase %s) to %s\n", r->blob().size(),
               v1::BlobFormat_Name(r->format()).c_str(), v1::Phase_Name(r->phase()).c_str(),
               f->Get("--output").c_str());
  return kExitOk;
}

}  // namespace khod
