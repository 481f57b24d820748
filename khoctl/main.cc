// khoctl: the operator's CLI for khod. Dispatches to one cmd_*.cc per subcommand.
#include <cstdio>
#include <cstring>

#include "khoctl/commands.h"

namespace khod {

// Declared here, defined in cmd_*.cc; add one line per new command.
// (keep alphabetical)
int RunConvert(const Args& args);
int RunInspect(const Args& args);
int RunSynth(const Args& args);

const std::vector<Command>& AllCommands() {
  static const std::vector<Command> kCommands = {
      {"convert", "convert FILE --to fdt|proto -o OUT", "re-encode a snapshot blob in the other format", RunConvert},
      {"inspect", "inspect FILE [--json] [--extents] [--ranges]", "show what a snapshot blob (FDT or protobuf) holds", RunInspect},
      {"synth", "synth -o OUT [--format fdt|proto] [--size 1T] [--backing 4k|2m|1g] ...", "write a synthetic snapshot (demos, benchmarks)", RunSynth},
  };
  return kCommands;
}

static int Usage(FILE* f) {
  std::fprintf(f, "usage: khoctl COMMAND [ARGS]\n\ncommands:\n");
  for (const auto& c : AllCommands()) std::fprintf(f, "  %-58s %s\n", c.usage, c.summary);
  std::fprintf(f, "\nexit codes: 0 ok, 1 differences found, 2 error\n");
  return f == stdout ? kExitOk : kExitError;
}

}  // namespace khod

int main(int argc, char** argv) {
  using namespace khod;
  if (argc < 2) return Usage(stderr);
  if (!std::strcmp(argv[1], "help") || !std::strcmp(argv[1], "--help") ||
      !std::strcmp(argv[1], "-h"))
    return Usage(stdout);
  for (const auto& c : AllCommands()) {
    if (std::strcmp(argv[1], c.name) == 0) return c.run(Args(argv + 2, argv + argc));
  }
  std::fprintf(stderr, "khoctl: unknown command '%s' (try 'khoctl help')\n", argv[1]);
  return kExitError;
}
