// vmm_stand_in: one VMM process for `blackout_bench --vmms`: one VM of its
// own and N guest memory files (bench/guest_memory.h) of BYTES each, every
// page written. It prints one line, "fds F1 F2 ... flags X what WHAT", and
// holds the files until its stdin closes. --keep-mapping: each file stays
// mapped (shared, every page present), as a real VMM keeps its guest memory
// mapped; else it is unmapped once written.
//
//   vmm_stand_in --gmems N --bytes BYTES [--keep-mapping]
#include <unistd.h>

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "bench/guest_memory.h"
#include "common/flags.h"

int main(int argc, char** argv) {
  using namespace khod;
  int exit_code = 0;
  const std::optional<ParsedFlags> f =
      ParseCommandLine(argc, argv, "vmm_stand_in --gmems N --bytes BYTES [--keep-mapping]",
                       {{"--gmems", true, nullptr, "N  guest memory files on this VMM's VM"},
                        {"--bytes", true, nullptr, "BYTES  size of each (a multiple of 4096)"},
                        {"--keep-mapping", false, nullptr,
                         "  keep each file mapped, every page present, as a VMM does"}},
                       &exit_code);
  if (!f) return exit_code;
  Result<uint64_t> gmems = f->GetUint("--gmems", 1), bytes = f->GetUint("--bytes", 0);
  if (!gmems.ok() || !bytes.ok() || *gmems == 0 || *gmems > 1024 || *bytes == 0 ||
      *bytes % 4096 != 0) {
    std::fprintf(stderr, "vmm_stand_in: --gmems takes 1 to 1024, --bytes a multiple of 4096\n");
    return 2;
  }
  Result<GuestMemory> g = MakeGuestMemory(*bytes, static_cast<int>(*gmems));
  if (!g.ok()) {
    std::fprintf(stderr, "vmm_stand_in: %s\n", g.status().ToString().c_str());
    return 2;
  }
  const bool keep = f->Has("--keep-mapping");
  std::string line = "fds";
  std::vector<Mapping> mapped(g->fds.size());  // held until exit, as a VMM holds its guest's memory
  for (size_t i = 0; i < g->fds.size(); ++i) {
    const UniqueFd& fd = g->fds[i];
    Status s = Populate(fd.get(), *bytes, 1, keep ? &mapped[i] : nullptr);
    if (!s.ok()) {
      std::fprintf(stderr, "vmm_stand_in: %s\n", s.ToString().c_str());
      return 2;
    }
    line += " " + std::to_string(fd.get());
  }
  std::printf("%s flags %llu what %s\n", line.c_str(), static_cast<unsigned long long>(g->flags),
              g->what.c_str());
  std::fflush(stdout);
  char c;
  while (::read(0, &c, 1) > 0) {
  }
  return 0;
}
