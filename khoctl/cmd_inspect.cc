// khoctl inspect FILE [--json] [--extents] [--ranges]: what a snapshot blob
// holds, in either format. Provenance is printed on every guest_memfd so that
// state from khod's model or the synthesizer is never read as kernel state.
#include <cinttypes>
#include <cstdio>
#include <string>

#include "common/printable.h"
#include "kernel/mempolicy_text.h"
#include "khoctl/commands.h"
#include "khoctl/flag_parser.h"
#include "khoctl/json_writer.h"
#include "khoctl/snapshot_file.h"
#include "khoctl/snapshot_summary.h"
#include "khoctl/usage.h"
#include "serializer/serializer.h"
#include "synth/size.h"

namespace khod {

namespace {

// Below this many extents they are listed without --extents.
constexpr size_t kFewExtents = 16;
// Attribute ranges and restructure records shown without --ranges / --extents.
constexpr size_t kFirstFew = 8;

struct InspectOptions {
  bool all_extents = false;
  bool all_ranges = false;
};

std::string PfnText(uint64_t pfn) { return pfn == kPfnUnknown ? "unknown" : Hex(pfn); }

std::string LayoutText(const RestructureRecord& r, uint32_t page_size) {
  std::string out;
  for (const auto& run : r.layout) {
    if (!out.empty()) out += ' ';
    out += std::to_string(run.count) + "x" + OrderSizeName(run.order, page_size) + "@" +
           std::to_string(run.offset);
  }
  return out;
}

// "MMAP", or "MMAP  (INIT_SHARED not shown by the kernel: 0 as declared)"
// when some creation flag bit was not observed.
std::string FlagsText(const GuestMemfd& g) {
  constexpr uint64_t kGmemBits = 3;  // MMAP | INIT_SHARED
  std::string out = GmemFlagNames(g.flags);
  const uint64_t unknown = kGmemBits & ~g.flags_known;
  if (g.kind == FileKind::kGuestMemfd && unknown)
    out += "  (" + GmemFlagNames(unknown) + " not shown by the kernel: " +
           ((g.flags & unknown) ? "set as declared" : "not claimed") + ")";
  return out;
}

void PrintText(const Snapshot& s, BlobFormat format, size_t blob_bytes, const InspectOptions& o) {
  const SnapshotHeader& h = s.header;
  std::printf("snapshot: %s blob, %zu bytes\n", BlobFormatName(format), blob_bytes);
  std::printf("  format version  %u.%u\n", h.format_major, h.format_minor);
  // A blob's texts are whatever its producer wrote (an older khod took names
  // a caller gives no longer: state/text_rule.h): escaped, as every text khoctl prints.
  std::printf("  producer        %s\n", EscapeNonPrintable(h.producer).c_str());
  std::printf("  kernel          %s\n", EscapeNonPrintable(h.kernel_release).c_str());
  std::printf("  boot id         %s\n", EscapeNonPrintable(h.boot_id).c_str());
  std::printf("  capture time    %s\n", FormatUtcNanos(h.capture_time_ns).c_str());
  std::printf("  page size       %u\n", h.page_size);

  std::printf("vms: %zu\n", s.vms.size());
  for (const auto& vm : s.vms) {
    std::printf("  vm %s  type %u  memslots %zu\n", Hex(vm.token).c_str(), vm.vm_type,
                vm.memslots.size());
    for (const auto& m : vm.memslots) {
      std::printf("    slot %u as %u  gfn %s +%s pages (%s)  gmem %s @%s  hva %s  flags %s\n",
                  m.slot & 0xffff, m.address_space(), Hex(m.base_gfn).c_str(),
                  Hex(m.npages).c_str(), FormatSize(m.npages * h.page_size).c_str(),
                  Hex(m.gmem_token).c_str(), Hex(m.gmem_offset).c_str(),
                  Hex(m.userspace_addr).c_str(), MemslotFlagNames(m.flags).c_str());
    }
  }

  std::printf("guest_memfds: %zu\n", s.gmems.size());
  for (const auto& g : s.gmems) {
    const GmemSummary sum = SummarizeGmem(g);
    std::printf("  gmem %s  \"%s\"  provenance %s%s\n", Hex(g.token).c_str(),
                EscapeNonPrintable(g.name).c_str(), ProvenanceName(g.provenance),
                g.provenance == Provenance::kKernel ? "" : "  (NOT captured from the kernel)");
    std::printf("    kind          %s  inode %" PRIu64 "  vm %s\n", FileKindName(g.kind), g.inode,
                g.vm_token ? Hex(g.vm_token).c_str() : "none");
    std::printf("    size          %s (%" PRIu64 " bytes, %" PRIu64 " pages)\n",
                FormatSize(g.size).c_str(), g.size, g.size / h.page_size);
    std::printf("    flags         %s\n", FlagsText(g).c_str());
    if (g.backing == Backing::kHugetlb)
      std::printf("    backing       hugetlb, hstate order %u (%s)\n", g.hstate_order,
                  OrderSizeName(g.hstate_order, h.page_size).c_str());
    else
      std::printf("    backing       %s\n", BackingName(g.backing));
    switch (g.policy_source) {
      case PolicySource::kInode:
        std::printf("    mempolicy     %s  (the file's shared policy)\n",
                    MempolicyToString(g.policy).c_str());
        break;
      case PolicySource::kVmmMappings:
        std::printf("    mempolicy     per VMM mapping (the file has no shared policy): %zu%s\n",
                    g.mapping_policies.size(),
                    g.kind == FileKind::kGuestMemfd
                        ? "  (they place none of a guest_memfd's pages: its allocating threads' "
                          "policies do, not recorded)"
                        : "");
        for (const auto& m : g.mapping_policies)
          std::printf("      pages %s +%s  pid %d mapping at %s  %s\n", Hex(m.first_index).c_str(),
                      Hex(m.count).c_str(), m.pid, Hex(m.start_address).c_str(),
                      MempolicyToString(m.policy).c_str());
        break;
      default:
        if (g.policy_unread.empty())
          std::printf("    mempolicy     unknown (not observed)\n");
        else
          std::printf("    mempolicy     unknown (not observed: %s)\n",
                      EscapeNonPrintable(g.policy_unread).c_str());
    }
    const uint64_t unobserved = UnobservedPages(g, h.page_size);
    if (g.visibility.empty())
      std::printf("    visibility    full\n");
    else
      std::printf("    visibility    %" PRIu64 " of %" PRIu64 " pages not fully observed\n",
                  unobserved, g.size / h.page_size);
    for (const auto& r : g.visibility)
      std::printf("      pages %s +%s  %s\n", Hex(r.first_index).c_str(), Hex(r.count).c_str(),
                  PageVisibilityName(r.visibility));
    std::printf("    folios        %" PRIu64 " in %zu extents, %" PRIu64 " pages populated",
                sum.folios, g.folios.size(), sum.populated_pages);
    if (sum.extents_pfn_unknown)
      std::printf(", %" PRIu64 " extents with unknown PFN", sum.extents_pfn_unknown);
    if (sum.hwpoison_pages) std::printf(", %" PRIu64 " hwpoison pages", sum.hwpoison_pages);
    std::printf("\n");
    for (const auto& [order, count] : sum.folios_by_order)
      std::printf("      order %-2u (%4s): %" PRIu64 "\n", order,
                  OrderSizeName(order, h.page_size).c_str(), count);
    if (o.all_extents || g.folios.size() <= kFewExtents) {
      for (const auto& e : g.folios)
        std::printf("      extent index %s pfn %s  %u x order %u  %s\n", Hex(e.first_index).c_str(),
                    PfnText(e.first_pfn).c_str(), e.nr_folios, e.order,
                    FolioFlagNames(e.flags).c_str());
    } else {
      std::printf("      (%zu extents: list them with --extents)\n", g.folios.size());
    }
    std::printf("    attributes    %zu ranges, %" PRIu64 " private pages\n",
                g.attributes.range_count(), sum.private_pages);
    size_t shown = 0;
    for (const auto& r : g.attributes.Ranges()) {
      if (!o.all_ranges && shown == kFirstFew) {
        std::printf("      ... (all with --ranges)\n");
        break;
      }
      std::printf("      pages %s +%s  %s\n", Hex(r.first).c_str(), Hex(r.count).c_str(),
                  AttributeName(r.value).c_str());
      ++shown;
    }
    std::printf("    restructures  %zu (%" PRIu64 " in progress)\n", g.restructures.size(),
                sum.restructures_in_progress);
    shown = 0;
    for (const auto& r : g.restructures) {
      if (!o.all_extents && shown == kFirstFew) {
        std::printf("      ... (all with --extents)\n");
        break;
      }
      std::printf("      index %s order %u head pfn %s memcg %" PRIu64 "%s  layout %s\n",
                  Hex(r.index).c_str(), r.original_order, PfnText(r.head_pfn).c_str(), r.memcg_id,
                  r.in_progress ? " IN PROGRESS" : "", LayoutText(r, h.page_size).c_str());
      ++shown;
    }
    std::printf("    content hashes %zu\n", g.hashes.size());
  }
}

void JsonPfn(JsonWriter& w, uint64_t pfn) {
  if (pfn == kPfnUnknown)
    w.Null();
  else
    w.Hex(pfn);
}

void JsonMempolicy(JsonWriter& w, const Mempolicy& p) {
  w.BeginObject();
  w.Key("mode").Int(p.mode);
  w.Key("mode_name").String(MempolicyModeName(p.mode));
  w.Key("mode_flags").Hex(p.mode_flags);
  w.Key("nodes").String(NodeListText(p.nodemask));
  w.Key("home_node").Int(p.home_node);
  w.Key("home_node_seen").Bool(p.home_node_seen);
  w.EndObject();
}

void JsonGmem(JsonWriter& w, const GuestMemfd& g, const InspectOptions& o, uint32_t page_size) {
  const GmemSummary sum = SummarizeGmem(g);
  w.BeginObject();
  w.Key("token").Hex(g.token);
  w.Key("name").String(g.name);
  w.Key("provenance").String(ProvenanceName(g.provenance));
  w.Key("kind").String(FileKindName(g.kind));
  w.Key("inode").Uint(g.inode);
  w.Key("size").Uint(g.size);
  w.Key("flags").Hex(g.flags);
  w.Key("flag_names").String(GmemFlagNames(g.flags));
  w.Key("flags_known").Hex(g.flags_known);
  w.Key("backing").String(BackingName(g.backing));
  w.Key("hstate_order").Uint(g.hstate_order);
  w.Key("vm_token").Hex(g.vm_token);
  w.Key("policy_source").String(PolicySourceName(g.policy_source));
  w.Key("mempolicy");
  JsonMempolicy(w, g.policy);
  w.Key("mapping_policies").BeginArray();
  for (const auto& m : g.mapping_policies) {
    w.BeginObject();
    w.Key("first_index").Uint(m.first_index);
    w.Key("count").Uint(m.count);
    w.Key("pid").Int(m.pid);
    w.Key("start_address").Hex(m.start_address);
    w.Key("policy");
    JsonMempolicy(w, m.policy);
    w.EndObject();
  }
  w.EndArray();
  w.Key("unobserved_pages").Uint(UnobservedPages(g, page_size));
  w.Key("visibility").BeginArray();
  for (const auto& r : g.visibility) {
    w.BeginObject();
    w.Key("first_index").Uint(r.first_index);
    w.Key("count").Uint(r.count);
    w.Key("visibility").String(PageVisibilityName(r.visibility));
    w.EndObject();
  }
  w.EndArray();
  w.Key("folios").BeginObject();
  w.Key("count").Uint(sum.folios);
  w.Key("extents").Uint(g.folios.size());
  w.Key("populated_pages").Uint(sum.populated_pages);
  w.Key("extents_pfn_unknown").Uint(sum.extents_pfn_unknown);
  w.Key("hwpoison_pages").Uint(sum.hwpoison_pages);
  w.Key("by_order").BeginObject();
  for (const auto& [order, count] : sum.folios_by_order) w.Key(std::to_string(order)).Uint(count);
  w.EndObject();
  w.EndObject();
  if (o.all_extents || g.folios.size() <= kFewExtents) {
    w.Key("extents").BeginArray();
    for (const auto& e : g.folios) {
      w.BeginObject();
      w.Key("first_index").Uint(e.first_index);
      w.Key("first_pfn");
      JsonPfn(w, e.first_pfn);
      w.Key("nr_folios").Uint(e.nr_folios);
      w.Key("order").Uint(e.order);
      w.Key("flags").String(FolioFlagNames(e.flags));
      w.EndObject();
    }
    w.EndArray();
  }
  w.Key("attributes").BeginObject();
  w.Key("ranges").Uint(g.attributes.range_count());
  w.Key("private_pages").Uint(sum.private_pages);
  w.Key(o.all_ranges ? "all" : "first").BeginArray();
  size_t shown = 0;
  for (const auto& r : g.attributes.Ranges()) {
    if (!o.all_ranges && shown++ == kFirstFew) break;
    w.BeginObject();
    w.Key("first").Uint(r.first);
    w.Key("count").Uint(r.count);
    w.Key("value").Hex(r.value);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  w.Key("restructures").BeginArray();
  for (const auto& r : g.restructures) {
    w.BeginObject();
    w.Key("index").Uint(r.index);
    w.Key("head_pfn");
    JsonPfn(w, r.head_pfn);
    w.Key("original_order").Uint(r.original_order);
    w.Key("memcg_id").Uint(r.memcg_id);
    w.Key("in_progress").Bool(r.in_progress);
    w.Key("layout").BeginArray();
    for (const auto& run : r.layout) {
      w.BeginObject();
      w.Key("offset").Uint(run.offset);
      w.Key("count").Uint(run.count);
      w.Key("order").Uint(run.order);
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.Key("content_hashes").Uint(g.hashes.size());
  w.EndObject();
}

void PrintJson(const Snapshot& s, BlobFormat format, size_t blob_bytes, const InspectOptions& o) {
  JsonWriter w;
  w.BeginObject();
  w.Key("format").String(BlobFormatName(format));
  w.Key("blob_bytes").Uint(blob_bytes);
  w.Key("header").BeginObject();
  w.Key("format_version")
      .String(std::to_string(s.header.format_major) + "." + std::to_string(s.header.format_minor));
  w.Key("producer").String(s.header.producer);
  w.Key("kernel_release").String(s.header.kernel_release);
  w.Key("boot_id").String(s.header.boot_id);
  w.Key("capture_time_ns").Uint(s.header.capture_time_ns);
  w.Key("capture_time").String(FormatUtcNanos(s.header.capture_time_ns));
  w.Key("page_size").Uint(s.header.page_size);
  w.EndObject();
  w.Key("vms").BeginArray();
  for (const auto& vm : s.vms) {
    w.BeginObject();
    w.Key("token").Hex(vm.token);
    w.Key("vm_type").Uint(vm.vm_type);
    w.Key("memslots").BeginArray();
    for (const auto& m : vm.memslots) {
      w.BeginObject();
      w.Key("slot").Uint(m.slot & 0xffff);
      w.Key("address_space").Uint(m.address_space());
      w.Key("flags").String(MemslotFlagNames(m.flags));
      w.Key("base_gfn").Hex(m.base_gfn);
      w.Key("npages").Uint(m.npages);
      w.Key("userspace_addr").Hex(m.userspace_addr);
      w.Key("gmem_token").Hex(m.gmem_token);
      w.Key("gmem_offset").Uint(m.gmem_offset);
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.Key("gmems").BeginArray();
  for (const auto& g : s.gmems) JsonGmem(w, g, o, s.header.page_size);
  w.EndArray();
  w.EndObject();
  std::fputs(w.str().c_str(), stdout);
}

}  // namespace

int RunInspect(const Args& args) {
  Result<ParsedFlags> flags =
      ParseFlags(args, {{"--json", false}, {"--extents", false}, {"--ranges", false}});
  if (!flags.ok()) return FailWithUsage("inspect", kInspectUsage, flags.status());
  if (flags->positionals().size() != 1)
    return FailWithUsage("inspect", kInspectUsage,
                         Status::InvalidArgument("expected exactly one FILE, got " +
                                                 std::to_string(flags->positionals().size())));
  Result<LoadedSnapshot> loaded = LoadSnapshotFile(flags->positionals()[0]);
  if (!loaded.ok()) return Fail("inspect", loaded.status());
  InspectOptions o;
  o.all_extents = flags->Has("--extents");
  o.all_ranges = flags->Has("--ranges");
  if (flags->Has("--json"))
    PrintJson(loaded->snap, loaded->format, loaded->blob_bytes, o);
  else
    PrintText(loaded->snap, loaded->format, loaded->blob_bytes, o);
  return kExitOk;
}

}  // namespace khod
