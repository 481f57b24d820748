// libFuzzer target for the kernel texts khod parses (kernel/): each input is
// up to four texts separated by NUL bytes, as the kernel would show them:
//   /proc/PID/maps '\0' /proc/PID/numa_maps '\0' /proc/PID/stat '\0' /proc/meminfo
// maps and numa_maps go through ProcessMappings::Parse and Of (for the first
// files maps names, with 4 KiB and 2 MiB pages) and line by line through
// ParseProcMapsLine, ParseProcMapsFields and ParseNumaMapsLine, and maps'
// lines given back as VMAs through AddVmaPolicies; stat through
// ParseProcStat; meminfo, as a file, through ReadHardwareCorruptedKb.
// Oracle: a refusal carries a message; an accepted maps line or numa_maps
// policy written back as the kernel writes it parses back the same; a maps
// line's fields alone parse as the whole line; a file's mappings are whole
// pages within the mapping the maps text gave; a VMA of the same range, file
// and offset as a maps line finds it, in whatever order the lines come. A
// violation aborts.
#include <linux/mempolicy.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/text_lines.h"
#include "fuzz/oracle.h"
#include "fuzz/scratch_dir.h"
#include "kernel/file_mappings.h"
#include "kernel/meminfo.h"
#include "kernel/numa_maps.h"
#include "kernel/proc_maps.h"
#include "kernel/proc_stat.h"
#include "kernel/vma_policy.h"

namespace khod {
namespace {

[[noreturn]] void Fail(const std::string& what, std::string_view detail = {}) {
  OracleFail("proc text", what, detail);
}

std::string HexText(uint64_t v) {
  char b[20];
  std::snprintf(b, sizeof b, "%llx", static_cast<unsigned long long>(v));
  return b;
}

// show_map_vma()'s line, numbers without the kernel's zero padding (so it is
// never longer than the line it came from).
std::string FormatMapsLine(const ProcMapsEntry& e) {
  std::string s = HexText(e.start) + "-" + HexText(e.end) + " " + e.perms + " " +
                  HexText(e.offset) + " " + HexText(e.dev_major) + ":" + HexText(e.dev_minor) +
                  " " + std::to_string(e.inode);
  if (!e.path.empty()) s += " " + e.path;
  return s;
}

bool SameEntry(const ProcMapsEntry& a, const ProcMapsEntry& b) {
  return a.start == b.start && a.end == b.end && a.perms == b.perms && a.offset == b.offset &&
         a.dev_major == b.dev_major && a.dev_minor == b.dev_minor && a.inode == b.inode &&
         a.path == b.path;
}

// mpol_to_str(): MODE[=FLAGS][:NODELIST].
std::string FormatPolicy(const Mempolicy& p) {
  static const std::pair<int32_t, const char*> kNames[] = {
      {MPOL_DEFAULT, "default"},       {MPOL_PREFERRED, "prefer"}, {MPOL_BIND, "bind"},
      {MPOL_INTERLEAVE, "interleave"}, {MPOL_LOCAL, "local"},      {5, "prefer (many)"},
      {6, "weighted interleave"}};
  std::string s = "?";
  for (const auto& [mode, name] : kNames)
    if (mode == p.mode) s = name;
  std::string flags;
  if (p.mode_flags & MPOL_F_STATIC_NODES) flags = "static";
  if (p.mode_flags & MPOL_F_RELATIVE_NODES)
    flags += std::string(flags.empty() ? "" : "|") + "relative";
  if (p.mode_flags & MPOL_F_NUMA_BALANCING)
    flags += std::string(flags.empty() ? "" : "|") + "balancing";
  if (!flags.empty()) s += "=" + flags;
  std::string nodes;
  const uint64_t n = p.nodemask.size() * 64;
  for (uint64_t i = 0; i < n; ++i) {
    if (!(p.nodemask[i / 64] >> (i % 64) & 1)) continue;
    uint64_t j = i;
    while (j + 1 < n && (p.nodemask[(j + 1) / 64] >> ((j + 1) % 64) & 1)) ++j;
    nodes +=
        (nodes.empty() ? "" : ",") + std::to_string(i) + (j > i ? "-" + std::to_string(j) : "");
    i = j;
  }
  if (!nodes.empty()) s += ":" + nodes;
  return s;
}

void CheckMapsLine(std::string_view line, std::set<std::pair<uint64_t, uint64_t>>* files) {
  Result<ProcMapsEntry> e = ParseProcMapsLine(line);
  RequireMessage("proc text", e.status(), "ParseProcMapsLine");
  Result<ProcMapsFields> f = ParseProcMapsFields(line);
  if (f.ok() != e.ok() || (!e.ok() && f.status().ToString() != e.status().ToString()))
    Fail("the fields alone do not parse as the whole maps line", line);
  if (!e.ok()) return;
  if (f->start != e->start || f->end != e->end || f->offset != e->offset ||
      f->dev_major != e->dev_major || f->dev_minor != e->dev_minor || f->inode != e->inode ||
      f->shared != e->shared())
    Fail("the fields alone read otherwise than the whole maps line", line);
  if (e->end <= e->start) Fail("a maps line with end <= start accepted", line);
  if (e->inode != 0 && files->size() < 4)
    files->insert({makedev(e->dev_major, e->dev_minor), e->inode});
  if (line.size() > 4096) return;  // the parser reads a line's first 4096 bytes
  const std::string again = FormatMapsLine(*e);
  Result<ProcMapsEntry> back = ParseProcMapsLine(again);
  if (!back.ok() || !SameEntry(*e, *back)) Fail("a maps line does not read back", again);
}

void CheckNumaMapsLine(std::string_view line) {
  Result<NumaMapsEntry> e = ParseNumaMapsLine(line);
  RequireMessage("proc text", e.status(), "ParseNumaMapsLine");
  if (!e.ok()) return;
  const std::string policy = FormatPolicy(e->policy);
  if (policy.size() >= kNumaMapsPolicyCut) return;  // one the kernel would cut: not read back
  Result<Mempolicy> back = ParseNumaMapsPolicy(policy);
  if (!back.ok() || !(*back == e->policy)) Fail("a numa_maps policy does not read back", policy);
}

void CheckMappings(std::string_view maps, std::string_view numa_maps,
                   const std::set<std::pair<uint64_t, uint64_t>>& files) {
  Result<ProcessMappings> parsed = ProcessMappings::Parse(maps, numa_maps);
  RequireMessage("proc text", parsed.status(), "ProcessMappings::Parse");
  if (!parsed.ok()) return;
  for (const auto& [dev, inode] : files)
    for (uint64_t page : {uint64_t{4096}, uint64_t{2} << 20}) {
      Result<std::vector<FileMapping>> of = parsed->Of(FileKey{dev, inode}, page);
      RequireMessage("proc text", of.status(), "ProcessMappings::Of");
      if (!of.ok()) continue;
      for (const FileMapping& m : *of)
        if (m.end <= m.start || m.count == 0 || m.count * page != m.end - m.start)
          Fail("a mapping that is not whole pages of its maps line", HexText(m.start));
    }
}

// Each page-aligned file line of `maps` given back as the VMA of its range,
// file and offset (in the reverse order) finds its line: the file's VMAs all
// answer.
void CheckVmasFindTheirLines(std::string_view maps,
                             const std::set<std::pair<uint64_t, uint64_t>>& files) {
  Result<ProcessMappings> parsed = ProcessMappings::ParseMaps(maps);
  if (!parsed.ok()) return;
  const uint64_t page = static_cast<uint64_t>(::getpagesize());
  std::vector<VmaPolicy> vmas;
  std::set<std::pair<uint64_t, uint64_t>> unaligned;
  (void)ForEachLine(maps, [&](std::string_view line) {
    Result<ProcMapsFields> f = ParseProcMapsFields(line);
    if (!f.ok() || f->inode == 0) return Status::Ok();
    const std::pair<uint64_t, uint64_t> file{makedev(f->dev_major, f->dev_minor), f->inode};
    if (f->offset % page != 0) {
      unaligned.insert(file);
      return Status::Ok();
    }
    VmaPolicy v;
    v.start = f->start;
    v.end = f->end;
    v.pgoff = f->offset / page;
    v.dev = file.first;
    v.inode = file.second;
    v.shared = f->shared;
    v.answered = true;
    vmas.push_back(v);
    return Status::Ok();
  });
  std::reverse(vmas.begin(), vmas.end());
  parsed->AddVmaPolicies(vmas);
  for (const auto& [dev, inode] : files)
    if (!unaligned.count({dev, inode}) &&
        parsed->VmaAnswersFor(FileKey{dev, inode}) != ProcessMappings::VmaAnswers::kAll)
      Fail("a VMA of a maps line's range, file and offset did not find it", HexText(inode));
}

void CheckMeminfo(std::string_view text) {
  const std::string path = ScratchDir::Path() + "/meminfo";
  ScratchDir::WriteFile(path, text);
  Result<uint64_t> kb = ReadHardwareCorruptedKb(path);
  RequireMessage("proc text", kb.status(), "ReadHardwareCorruptedKb");
}

}  // namespace
}  // namespace khod

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  std::string_view texts[4];
  for (std::string_view& t : texts) {
    const size_t nul = rest.find('\0');
    t = rest.substr(0, nul);
    rest = nul == std::string_view::npos ? std::string_view() : rest.substr(nul + 1);
  }
  std::set<std::pair<uint64_t, uint64_t>> files;
  (void)khod::ForEachLine(texts[0], [&](std::string_view line) {
    khod::CheckMapsLine(line, &files);
    return khod::Status::Ok();
  });
  (void)khod::ForEachLine(texts[1], [&](std::string_view line) {
    khod::CheckNumaMapsLine(line);
    return khod::Status::Ok();
  });
  khod::CheckMappings(texts[0], texts[1], files);
  khod::CheckVmasFindTheirLines(texts[0], files);
  khod::Result<khod::ProcStat> stat = khod::ParseProcStat(texts[2]);
  khod::RequireMessage("proc text", stat.status(), "ParseProcStat");
  khod::CheckMeminfo(texts[3]);
  return 0;
}
