// EncodeFdt: Snapshot -> flattened device tree with libfdt's sequential-write
// API (no tree edits). Layout: serializer/fdt_layout.h, FORMAT.md.
// Two walks of one tree writer: FdtSizer counts the exact blob size (libfdt's
// layout and its property-name dedup), then FdtWriter fills a buffer of just
// that size, so no worst-case bound is allocated and zero-filled.
#include <libfdt.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <string>
#include <unordered_set>
#include <vector>

#include "common/status_macros.h"
#include "serializer/encode_guard.h"
#include "serializer/fdt_checksum.h"
#include "serializer/fdt_layout.h"
#include "serializer/format_version.h"
#include "serializer/serializer.h"
#include "state/invariants.h"

namespace khod {
namespace {

using namespace fdt_layout;  // NOLINT: the layout constants are the vocabulary here

template <typename T>
void Store(uint8_t* p, T v) {
  std::memcpy(p, &v, sizeof v);  // native endian, as KHO's ABI
}

// Writes into libfdt's sequential-write buffer.
class FdtWriter {
 public:
  explicit FdtWriter(void* fdt) : fdt_(fdt) {}
  int BeginNode(const char* name) { return fdt_begin_node(fdt_, name); }
  int EndNode() { return fdt_end_node(fdt_); }
  int Prop(const char* name, const void* v, int len) { return fdt_property(fdt_, name, v, len); }
  int PropString(const char* name, const char* v) { return fdt_property_string(fdt_, name, v); }
  int Placeholder(const char* name, int len, void** val) {
    return fdt_property_placeholder(fdt_, name, len, val);
  }
  // fdt_property_u32/u64 store big-endian; KHO's convention is native endian.
  int PropU32(const char* name, uint32_t v) { return Prop(name, &v, 4); }
  int PropU64(const char* name, uint64_t v) { return Prop(name, &v, 8); }

 private:
  void* fdt_;
};

// Counts what FdtWriter would write, byte for byte as libfdt lays it out:
// header and the empty reserve map (64 bytes), tags, 4-byte-aligned names and
// values, FDT_END, and the strings block where a property name is stored once
// unless it is already there (libfdt reuses any stored name it is a suffix of).
class FdtSizer {
 public:
  int BeginNode(const char* name) {
    struct_ += 4 + Align(std::strlen(name) + 1);
    return 0;
  }
  int EndNode() {
    struct_ += 4;
    return 0;
  }
  int Prop(const char* name, const void*, int len) {
    struct_ += 12 + Align(static_cast<size_t>(len));
    AddName(name);
    return 0;
  }
  int PropString(const char* name, const char* v) {
    return Prop(name, nullptr, static_cast<int>(std::strlen(v) + 1));
  }
  int Placeholder(const char* name, int len, void** val) {
    *val = nullptr;  // nothing to fill: WriteTable skips the records
    return Prop(name, nullptr, len);
  }
  int PropU32(const char* name, uint32_t) { return Prop(name, nullptr, 4); }
  int PropU64(const char* name, uint64_t) { return Prop(name, nullptr, 8); }
  // fdt_finish's totalsize: header + reserve map, structure + FDT_END, strings.
  size_t total() const { return 64 + struct_ + 4 + strings_; }

 private:
  static size_t Align(size_t n) { return (n + 3) & ~size_t{3}; }
  void AddName(const char* name) {
    if (present_.count(name)) return;
    const size_t len = std::strlen(name);
    bool found = false;
    for (const std::string& s : stored_)
      found |= s.size() >= len && s.compare(s.size() - len, len, name) == 0;
    if (!found) {
      stored_.emplace_back(name);
      strings_ += len + 1;
    }
    present_.emplace(name);
  }
  size_t struct_ = 0;
  size_t strings_ = 0;
  std::vector<std::string> stored_;          // names in the strings block
  std::unordered_set<std::string> present_;  // names found there (stored or as a suffix)
};

size_t RecordsPerChunk(const TableSpec& spec) { return kChunkBytes / spec.record_size; }

// Writes one table node; `write(dst, row)` stores a row's record_size bytes.
template <typename Sink, typename Rows, typename WriteFn>
int WriteTable(Sink& fdt, const TableSpec& spec, const Rows& rows, WriteFn write) {
  if (rows.empty()) return 0;  // an absent table is an empty one
  int err;
  if ((err = fdt.BeginNode(spec.node)) ||
      (err = fdt.PropString(kPropCompatible, spec.compatible)) ||
      (err = fdt.PropU32(kPropRecordSize, spec.record_size)) ||
      (err = fdt.PropU64(kPropNrRecords, rows.size())))
    return err;
  const size_t per_chunk = RecordsPerChunk(spec);
  char name[32];
  for (size_t first = 0, chunk = 0; first < rows.size(); first += per_chunk, ++chunk) {
    const size_t n = std::min(per_chunk, rows.size() - first);
    std::snprintf(name, sizeof name, "%s%zu", kChunkPrefix, chunk);
    void* val;
    if ((err = fdt.Placeholder(name, static_cast<int>(n * spec.record_size), &val))) return err;
    uint8_t* dst = static_cast<uint8_t*>(val);
    if (!dst) continue;  // sizing pass
    for (size_t i = 0; i < n; ++i, dst += spec.record_size) write(dst, rows[first + i]);
  }
  return fdt.EndNode();
}

void WriteFolio(uint8_t* d, const FolioExtent& e) {
  Store<uint64_t>(d, e.first_index);
  Store<uint64_t>(d + 8, e.first_pfn);
  Store<uint32_t>(d + 16, e.nr_folios);
  d[20] = e.order;
  d[21] = e.flags;
  Store<uint16_t>(d + 22, 0);
}

void WriteAttribute(uint8_t* d, const AttributeRange& r) {
  Store<uint64_t>(d, r.first);
  Store<uint64_t>(d + 8, r.count);
  Store<uint64_t>(d + 16, r.value);
}

void WriteHash(uint8_t* d, const ContentHash& h) {
  Store<uint64_t>(d, h.first_index);
  Store<uint64_t>(d + 8, h.count);
  Store<uint64_t>(d + 16, h.xxh3);
}

void WriteRestructure(uint8_t* d, const RestructureRecord& r) {
  Store<uint64_t>(d, r.index);
  Store<uint64_t>(d + 8, r.head_pfn);
  Store<uint64_t>(d + 16, r.memcg_id);
  d[24] = r.original_order;
  d[25] = r.in_progress ? 1 : 0;
  Store<uint16_t>(d + 26, 0);
  Store<uint32_t>(d + 28, static_cast<uint32_t>(r.layout.size()));
}

void WriteSplitRun(uint8_t* d, const SplitRun& s) {
  Store<uint32_t>(d, s.offset);
  Store<uint32_t>(d + 4, s.count);
  d[8] = s.order;
  d[9] = d[10] = d[11] = 0;
}

void WriteMemslot(uint8_t* d, const Memslot& s) {
  Store<uint32_t>(d, s.slot);
  Store<uint32_t>(d + 4, s.flags);
  Store<uint64_t>(d + 8, s.base_gfn);
  Store<uint64_t>(d + 16, s.npages);
  Store<uint64_t>(d + 24, s.userspace_addr);
  Store<uint64_t>(d + 32, s.gmem_token);
  Store<uint64_t>(d + 40, s.gmem_offset);
}

void WriteVisibility(uint8_t* d, const VisibilityRange& r) {
  Store<uint64_t>(d, r.first_index);
  Store<uint64_t>(d + 8, r.count);
  d[16] = static_cast<uint8_t>(r.visibility);
  std::memset(d + 17, 0, 7);
}

void WriteMappingPolicy(uint8_t* d, const MappingPolicy& m) {
  Store<uint64_t>(d, m.first_index);
  Store<uint64_t>(d + 8, m.count);
  Store<uint64_t>(d + 16, m.start_address);
  Store<int32_t>(d + 24, m.pid);
  Store<int32_t>(d + 28, m.policy.mode);
  Store<uint32_t>(d + 32, m.policy.mode_flags);
  Store<int32_t>(d + 36, m.policy.home_node);
  Store<uint32_t>(d + 40, static_cast<uint32_t>(m.policy.nodemask.size()));
  Store<uint32_t>(d + 44, 0);
}

void WriteNodemaskWord(uint8_t* d, const uint64_t& w) { Store<uint64_t>(d, w); }

template <typename Sink>
int WriteVm(Sink& fdt, const Vm& vm) {
  char name[32];
  std::snprintf(name, sizeof name, "vm-%" PRIx64, vm.token);
  int err;
  if ((err = fdt.BeginNode(name)) || (err = fdt.PropString(kPropCompatible, kVmCompatible)) ||
      (err = fdt.PropU64(kPropToken, vm.token)) || (err = fdt.PropU32(kPropVmType, vm.vm_type)) ||
      (err = WriteTable(fdt, kMemslotTable, vm.memslots, WriteMemslot)))
    return err;
  return fdt.EndNode();
}

// A gmem's tables that are not stored as vectors, flattened once for both passes.
struct GmemRows {
  std::vector<AttributeRange> ranges;
  std::vector<SplitRun> runs;            // every restructure record's layout, in record order
  std::vector<uint64_t> nodemask_words;  // every mapping policy's nodemask, in order
};

GmemRows FlattenRows(const GuestMemfd& g) {
  GmemRows rows;
  rows.ranges = g.attributes.Ranges();
  for (const RestructureRecord& r : g.restructures)
    rows.runs.insert(rows.runs.end(), r.layout.begin(), r.layout.end());
  for (const MappingPolicy& m : g.mapping_policies)
    rows.nodemask_words.insert(rows.nodemask_words.end(), m.policy.nodemask.begin(),
                               m.policy.nodemask.end());
  return rows;
}

template <typename Sink>
int WriteGmem(Sink& fdt, const GuestMemfd& g, const GmemRows& rows) {
  char name[32];
  std::snprintf(name, sizeof name, "gmem-%" PRIx64, g.token);
  int err;
  if ((err = fdt.BeginNode(name)) || (err = fdt.PropString(kPropCompatible, kGmemCompatible)) ||
      (err = fdt.PropU64(kPropToken, g.token)) || (err = fdt.PropU64(kPropInode, g.inode)) ||
      (err = fdt.PropString(kPropName, g.name.c_str())) ||
      (err = fdt.PropU32(kPropProvenance, static_cast<uint32_t>(g.provenance))) ||
      (err = fdt.PropU32(kPropKind, static_cast<uint32_t>(g.kind))) ||
      (err = fdt.PropU64(kPropSize, g.size)) || (err = fdt.PropU64(kPropFlags, g.flags)) ||
      (err = fdt.PropU32(kPropBacking, static_cast<uint32_t>(g.backing))) ||
      (err = fdt.PropU32(kPropHstateOrder, g.hstate_order)) ||
      (err = fdt.PropU64(kPropVmToken, g.vm_token)) ||
      (err = fdt.PropU32(kPropPolicyMode, static_cast<uint32_t>(g.policy.mode))) ||
      (err = fdt.PropU32(kPropPolicyFlags, g.policy.mode_flags)) ||
      (err = fdt.Prop(kPropPolicyNodemask, g.policy.nodemask.data(),
                      static_cast<int>(g.policy.nodemask.size() * 8))) ||
      (err = fdt.PropU32(kPropPolicyHomeNode, static_cast<uint32_t>(g.policy.home_node))) ||
      (err = fdt.PropU64(kPropFlagsKnown, g.flags_known)) ||
      (err = fdt.PropU32(kPropPolicySource, static_cast<uint32_t>(g.policy_source))) ||
      (err = WriteTable(fdt, kFolioTable, g.folios, WriteFolio)) ||
      (err = WriteTable(fdt, kAttributeTable, rows.ranges, WriteAttribute)) ||
      (err = WriteTable(fdt, kHashTable, g.hashes, WriteHash)) ||
      (err = WriteTable(fdt, kRestructureTable, g.restructures, WriteRestructure)) ||
      (err = WriteTable(fdt, kSplitRunTable, rows.runs, WriteSplitRun)) ||
      (err = WriteTable(fdt, kVisibilityTable, g.visibility, WriteVisibility)) ||
      (err = WriteTable(fdt, kMappingPolicyTable, g.mapping_policies, WriteMappingPolicy)) ||
      (err = WriteTable(fdt, kMappingNodemaskTable, rows.nodemask_words, WriteNodemaskWord)))
    return err;
  return fdt.EndNode();
}

template <typename Sink>
int WriteTree(Sink& fdt, const Snapshot& snap, const std::vector<GmemRows>& rows) {
  const uint32_t version[2] = {kFormatMajor, kFormatMinor};
  const SnapshotHeader& h = snap.header;
  int err;
  if ((err = fdt.BeginNode("")) || (err = fdt.PropString(kPropCompatible, kRootCompatible)) ||
      (err = fdt.Prop(kPropFormatVersion, version, sizeof version)) ||
      (err = fdt.PropU64(kPropChecksum, 0)) ||  // filled in once the blob is final
      (err = fdt.PropString(kPropProducer, h.producer.c_str())) ||
      (err = fdt.PropString(kPropKernelRelease, h.kernel_release.c_str())) ||
      (err = fdt.PropString(kPropBootId, h.boot_id.c_str())) ||
      (err = fdt.PropU64(kPropCaptureTime, h.capture_time_ns)) ||
      (err = fdt.PropU32(kPropPageSize, h.page_size)))
    return err;
  for (const Vm& vm : snap.vms)
    if ((err = WriteVm(fdt, vm))) return err;
  for (size_t i = 0; i < snap.gmems.size(); ++i)
    if ((err = WriteGmem(fdt, snap.gmems[i], rows[i]))) return err;
  return fdt.EndNode();
}

// FDT strings end at the first NUL: refuse strings that would be cut short
// rather than silently change them.
Status CheckStrings(const Snapshot& snap) {
  auto check = [](const std::string& s, const std::string& what) {
    if (s.find('\0') != std::string::npos)
      return Status::InvalidArgument("fdt encode: " + what + " contains a NUL byte");
    return Status::Ok();
  };
  KHOD_RETURN_IF_ERROR(check(snap.header.producer, "producer"));
  KHOD_RETURN_IF_ERROR(check(snap.header.kernel_release, "kernel release"));
  KHOD_RETURN_IF_ERROR(check(snap.header.boot_id, "boot id"));
  for (const GuestMemfd& g : snap.gmems) KHOD_RETURN_IF_ERROR(check(g.name, "gmem name"));
  return Status::Ok();
}

}  // namespace

Status EncodeFdt(const Snapshot& snap, std::string* out) {
  KHOD_RETURN_IF_ERROR(RefuseInvalid(snap, "fdt encode"));
  KHOD_RETURN_IF_ERROR(CheckStrings(snap));
  std::vector<GmemRows> rows;
  rows.reserve(snap.gmems.size());
  for (const GuestMemfd& g : snap.gmems) rows.push_back(FlattenRows(g));
  FdtSizer sizer;
  WriteTree(sizer, snap, rows);
  const size_t size = sizer.total();
  // libfdt sizes are int and totalsize is 32-bit: one blob stays below 2 GiB.
  if (size > static_cast<size_t>(INT32_MAX))
    return Status::InvalidArgument("fdt encode: snapshot needs " + std::to_string(size) +
                                   " bytes, above the 2 GiB an FDT can hold");
  out->resize(size);  // every byte is written below: libfdt fills the header and blocks
  void* fdt = &(*out)[0];
  FdtWriter writer(fdt);
  int err = fdt_create(fdt, static_cast<int>(size));
  if (!err) err = fdt_finish_reservemap(fdt);
  if (!err) err = WriteTree(writer, snap, rows);
  if (!err) err = fdt_finish(fdt);
  if (err)
    return Status::Internal(std::string("fdt encode: libfdt: ") + fdt_strerror(err) + " (sized " +
                            std::to_string(size) + " bytes)");
  if (fdt_totalsize(fdt) != size)
    return Status::Internal("fdt encode: sized " + std::to_string(size) + " bytes, wrote " +
                            std::to_string(fdt_totalsize(fdt)));
  return SealFdt(out);
}

}  // namespace khod
