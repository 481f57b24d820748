// khoctl convert FILE --to fdt|proto -o OUT: re-encodes a snapshot blob in the
// other format (the content is identical by design; decode checks it).
#include <cstdio>
#include <string>

#include "khoctl/blob_format_flag.h"
#include "khoctl/commands.h"
#include "khoctl/file_io.h"
#include "khoctl/flag_parser.h"
#include "khoctl/snapshot_file.h"
#include "khoctl/usage.h"
#include "serializer/serializer.h"

namespace khod {

int RunConvert(const Args& args) {
  Result<ParsedFlags> flags = ParseFlags(args, {{"--to", true}, {"--out", true, "-o"}});
  if (!flags.ok()) return FailWithUsage("convert", kConvertUsage, flags.status());
  if (flags->positionals().size() != 1)
    return FailWithUsage("convert", kConvertUsage,
                         Status::InvalidArgument("expected exactly one FILE, got " +
                                                 std::to_string(flags->positionals().size())));
  if (!flags->Has("--to"))
    return FailWithUsage("convert", kConvertUsage,
                         Status::InvalidArgument("missing --to fdt|proto"));
  if (!flags->Has("--out"))
    return FailWithUsage("convert", kConvertUsage, Status::InvalidArgument("missing -o OUT"));
  Result<BlobFormat> to = ParseBlobFormat(flags->Get("--to"));
  if (!to.ok()) return FailWithUsage("convert", kConvertUsage, to.status());

  const std::string& in_path = flags->positionals()[0];
  const std::string out_path = flags->Get("--out");
  Result<LoadedSnapshot> in = LoadSnapshotFile(in_path);
  if (!in.ok()) return Fail("convert", in.status());
  std::string out;
  Status st = Encode(in->snap, *to, &out);
  if (st.ok()) st = WriteWholeFile(out_path, out);
  if (!st.ok()) return Fail("convert", st);
  // On stderr, as capture's: -o /dev/stdout is the blob alone.
  std::fprintf(stderr, "%s (%s, %zu bytes) -> %s (%s, %zu bytes)\n", in_path.c_str(),
               BlobFormatName(in->format), in->blob_bytes, out_path.c_str(), BlobFormatName(*to),
               out.size());
  return kExitOk;
}

}  // namespace khod
