// khoctl synth -o OUT ...: writes a synthetic snapshot blob (demos,
// benchmarks, fuzz corpora). Its guest_memfds say provenance "synthetic".
#include <cstdio>
#include <string>

#include "common/status_macros.h"
#include "khoctl/blob_format_flag.h"
#include "khoctl/commands.h"
#include "khoctl/file_io.h"
#include "khoctl/flag_parser.h"
#include "khoctl/snapshot_summary.h"
#include "khoctl/usage.h"
#include "serializer/serializer.h"
#include "synth/size.h"
#include "synth/synthesizer.h"

namespace khod {

namespace {

// Narrows a parsed count to 32 bits, naming the flag when it does not fit or is zero.
Result<uint32_t> PositiveU32(const ParsedFlags& f, const char* name, uint32_t fallback) {
  KHOD_ASSIGN_OR_RETURN(uint64_t v, f.GetUint(name, fallback));
  if (v == 0 || v > UINT32_MAX)
    return Status::InvalidArgument(std::string(name) + " must be between 1 and 4294967295");
  return static_cast<uint32_t>(v);
}

Result<SynthParams> ParamsFromFlags(const ParsedFlags& f) {
  SynthParams p;
  if (f.Has("--size")) {
    KHOD_ASSIGN_OR_RETURN(uint64_t size, ParseSize(f.Get("--size")));
    p.total_bytes = size;
  }
  if (f.Has("--backing")) {
    KHOD_ASSIGN_OR_RETURN(SynthBacking b, ParseSynthBacking(f.Get("--backing")));
    p.backing = b;
  }
  struct U64Flag {
    const char* name;
    uint64_t* field;
  };
  for (const U64Flag& u :
       {U64Flag{"--run-pages", &p.run_pages}, U64Flag{"--shared-ranges", &p.shared_ranges},
        U64Flag{"--split-folios", &p.split_folios},
        U64Flag{"--splits-in-progress", &p.splits_in_progress}, U64Flag{"--seed", &p.seed}}) {
    KHOD_ASSIGN_OR_RETURN(uint64_t v, f.GetUint(u.name, *u.field));
    *u.field = v;
  }
  struct U32Flag {
    const char* name;
    uint32_t* field;
  };
  for (const U32Flag& u : {U32Flag{"--vms", &p.vms}, U32Flag{"--gmems-per-vm", &p.gmems_per_vm},
                           U32Flag{"--memslots", &p.high_memslots}}) {
    KHOD_ASSIGN_OR_RETURN(uint32_t v, PositiveU32(f, u.name, *u.field));
    *u.field = v;
  }
  p.private_memory = !f.Has("--all-shared");
  return p;
}

}  // namespace

int RunSynth(const Args& args) {
  Result<ParsedFlags> flags = ParseFlags(args, {{"--out", true, "-o"},
                                                {"--format", true},
                                                {"--size", true},
                                                {"--backing", true},
                                                {"--run-pages", true},
                                                {"--shared-ranges", true},
                                                {"--vms", true},
                                                {"--gmems-per-vm", true},
                                                {"--memslots", true},
                                                {"--split-folios", true},
                                                {"--splits-in-progress", true},
                                                {"--all-shared", false},
                                                {"--seed", true}});
  if (!flags.ok()) return FailWithUsage("synth", kSynthUsage, flags.status());
  if (!flags->positionals().empty())
    return FailWithUsage(
        "synth", kSynthUsage,
        Status::InvalidArgument("unexpected argument '" + flags->positionals()[0] + "'"));
  if (!flags->Has("--out"))
    return FailWithUsage("synth", kSynthUsage, Status::InvalidArgument("missing -o OUT"));
  Result<BlobFormat> format = ParseBlobFormat(flags->Get("--format", "fdt"));
  if (!format.ok()) return FailWithUsage("synth", kSynthUsage, format.status());
  Result<SynthParams> params = ParamsFromFlags(*flags);
  if (!params.ok()) return FailWithUsage("synth", kSynthUsage, params.status());

  Result<Snapshot> snap = Synthesize(*params);
  if (!snap.ok()) return FailWithUsage("synth", kSynthUsage, snap.status());
  std::string blob;
  Status st = Encode(*snap, *format, &blob);
  const std::string out_path = flags->Get("--out");
  if (st.ok()) st = WriteWholeFile(out_path, blob);
  if (!st.ok()) return Fail("synth", st);
  size_t extents = 0;
  for (const auto& g : snap->gmems) extents += g.folios.size();
  const uint64_t folios = TotalFolios(*snap);
  // On stderr, as capture's: -o /dev/stdout is the blob alone.
  std::fprintf(stderr,
               "%s: %s blob, %zu bytes: %zu VMs, %zu guest_memfds, %s of %s folios, "
               "%zu extents, %.4f bytes/folio (synthetic, seed %llu)\n",
               out_path.c_str(), BlobFormatName(*format), blob.size(), snap->vms.size(),
               snap->gmems.size(), FormatSize(params->total_bytes).c_str(),
               SynthBackingName(params->backing), extents,
               folios ? static_cast<double>(blob.size()) / folios : 0.0,
               static_cast<unsigned long long>(params->seed));
  return kExitOk;
}

}  // namespace khod
