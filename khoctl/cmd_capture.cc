// khoctl capture --pid P --fd N [--fd M ...] [--memslots FILE] [--attributes FILE]
//                [--hash] -o OUT [--format fdt|proto]
// Captures a VMM's guest_memfds from the running kernel into a snapshot blob.
#include <sys/types.h>

#include <cstdio>

#include "khoctl/blob_format_flag.h"
#include "khoctl/commands.h"
#include "khoctl/file_io.h"
#include "khoctl/flag_parser.h"
#include "khoctl/live_capture.h"
#include "khoctl/usage.h"
#include "serializer/serializer.h"

namespace khod {

int RunCapture(const Args& args_in) {
  Args args = args_in;
  auto fds = ExtractFdFlags(&args);
  if (!fds.ok()) return FailWithUsage("capture", kCaptureUsage, fds.status());
  Result<ParsedFlags> flags = ParseFlags(args, {{"--pid", true},
                                                {"--memslots", true},
                                                {"--attributes", true},
                                                {"--hash", false},
                                                {"--out", true, "-o"},
                                                {"--format", true}});
  if (!flags.ok()) return FailWithUsage("capture", kCaptureUsage, flags.status());
  if (!flags->positionals().empty())
    return FailWithUsage("capture", kCaptureUsage,
                         Status::InvalidArgument("unexpected '" + flags->positionals()[0] + "'"));
  if (fds->empty())
    return FailWithUsage("capture", kCaptureUsage, Status::InvalidArgument("missing --fd N"));
  if (!flags->Has("--out"))
    return FailWithUsage("capture", kCaptureUsage, Status::InvalidArgument("missing -o OUT"));
  auto pid = PidFlag(*flags);
  if (!pid.ok()) return FailWithUsage("capture", kCaptureUsage, pid.status());
  auto format = ParseBlobFormat(flags->Get("--format", "fdt"));
  if (!format.ok()) return FailWithUsage("capture", kCaptureUsage, format.status());

  auto decl = LoadDeclarations(flags->Get("--memslots"), flags->Get("--attributes"));
  if (!decl.ok()) return Fail("capture", decl.status());
  auto snap = CaptureLive(*pid, *fds, *decl, flags->Has("--hash"));
  if (!snap.ok()) return Fail("capture", snap.status());
  std::string blob;
  Status s = Encode(*snap, *format, &blob);
  if (s.ok()) s = WriteWholeFile(flags->Get("--out"), blob);
  if (!s.ok()) return Fail("capture", s);
  uint64_t extents = 0;
  for (const auto& g : snap->gmems) extents += g.folios.size();
  std::fprintf(stderr,
               "captured %zu file(s), %llu folio extents, %zu VM(s) -> %s (%s, %zu bytes)\n",
               snap->gmems.size(), static_cast<unsigned long long>(extents), snap->vms.size(),
               flags->Get("--out").c_str(), BlobFormatName(*format), blob.size());
  return kExitOk;
}

}  // namespace khod
