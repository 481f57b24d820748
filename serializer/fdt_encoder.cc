// EncodeFdt: Snapshot -> flattened device tree with libfdt's sequential-write
// API (one pass, no tree edits). Layout: serializer/fdt_layout.h, FORMAT.md.
#include <libfdt.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <vector>

#include "serializer/fdt_checksum.h"
#include "serializer/fdt_layout.h"
#include "serializer/format_version.h"
#include "serializer/serializer.h"
#include "serializer/encode_guard.h"
#include "state/invariants.h"

namespace khod {
namespace {

using namespace fdt_layout;  // NOLINT: the layout constants are the vocabulary here

template <typename T>
void Store(uint8_t* p, T v) {
  std::memcpy(p, &v, sizeof v);  // native endian, as KHO's ABI
}

// fdt_property_u32/u64 store big-endian; KHO's convention is native endian.
int PropU32(void* fdt, const char* name, uint32_t v) { return fdt_property(fdt, name, &v, 4); }
int PropU64(void* fdt, const char* name, uint64_t v) { return fdt_property(fdt, name, &v, 8); }

size_t RecordsPerChunk(const TableSpec& spec) { return kChunkBytes / spec.record_size; }

// Upper bound on the bytes a table adds: records plus per-chunk property
// headers and the node's own properties.
size_t TableBound(const TableSpec& spec, size_t rows) {
  const size_t chunks = rows / RecordsPerChunk(spec) + 1;
  return rows * spec.record_size + chunks * 16 + 160;
}

// Writes one table node; `write(dst, row)` stores a row's record_size bytes.
template <typename Row, typename WriteFn>
int WriteTable(void* fdt, const TableSpec& spec, const std::vector<Row>& rows, WriteFn write) {
  if (rows.empty()) return 0;  // an absent table is an empty one
  int err;
  if ((err = fdt_begin_node(fdt, spec.node)) ||
      (err = fdt_property_string(fdt, kPropCompatible, spec.compatible)) ||
      (err = PropU32(fdt, kPropRecordSize, spec.record_size)) ||
      (err = PropU64(fdt, kPropNrRecords, rows.size())))
    return err;
  const size_t per_chunk = RecordsPerChunk(spec);
  char name[32];
  for (size_t first = 0, chunk = 0; first < rows.size(); first += per_chunk, ++chunk) {
    const size_t n = std::min(per_chunk, rows.size() - first);
    std::snprintf(name, sizeof name, "%s%zu", kChunkPrefix, chunk);
    void* val;
    if ((err = fdt_property_placeholder(fdt, name, static_cast<int>(n * spec.record_size), &val)))
      return err;
    uint8_t* dst = static_cast<uint8_t*>(val);
    for (size_t i = 0; i < n; ++i, dst += spec.record_size) write(dst, rows[first + i]);
  }
  return fdt_end_node(fdt);
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

int WriteVm(void* fdt, const Vm& vm) {
  char name[32];
  std::snprintf(name, sizeof name, "vm-%" PRIx64, vm.token);
  int err;
  if ((err = fdt_begin_node(fdt, name)) ||
      (err = fdt_property_string(fdt, kPropCompatible, kVmCompatible)) ||
      (err = PropU64(fdt, kPropToken, vm.token)) ||
      (err = PropU32(fdt, kPropVmType, vm.vm_type)) ||
      (err = WriteTable(fdt, kMemslotTable, vm.memslots, WriteMemslot)))
    return err;
  return fdt_end_node(fdt);
}

int WriteGmem(void* fdt, const GuestMemfd& g, const std::vector<AttributeRange>& ranges) {
  char name[32];
  std::snprintf(name, sizeof name, "gmem-%" PRIx64, g.token);
  std::vector<SplitRun> runs;
  for (const RestructureRecord& r : g.restructures)
    runs.insert(runs.end(), r.layout.begin(), r.layout.end());
  int err;
  if ((err = fdt_begin_node(fdt, name)) ||
      (err = fdt_property_string(fdt, kPropCompatible, kGmemCompatible)) ||
      (err = PropU64(fdt, kPropToken, g.token)) ||
      (err = PropU64(fdt, kPropInode, g.inode)) ||
      (err = fdt_property_string(fdt, kPropName, g.name.c_str())) ||
      (err = PropU32(fdt, kPropProvenance, static_cast<uint32_t>(g.provenance))) ||
      (err = PropU32(fdt, kPropKind, static_cast<uint32_t>(g.kind))) ||
      (err = PropU64(fdt, kPropSize, g.size)) ||
      (err = PropU64(fdt, kPropFlags, g.flags)) ||
      (err = PropU32(fdt, kPropBacking, static_cast<uint32_t>(g.backing))) ||
      (err = PropU32(fdt, kPropHstateOrder, g.hstate_order)) ||
      (err = PropU64(fdt, kPropVmToken, g.vm_token)) ||
      (err = PropU32(fdt, kPropPolicyMode, static_cast<uint32_t>(g.policy.mode))) ||
      (err = PropU32(fdt, kPropPolicyFlags, g.policy.mode_flags)) ||
      (err = fdt_property(fdt, kPropPolicyNodemask, g.policy.nodemask.data(),
                          static_cast<int>(g.policy.nodemask.size() * 8))) ||
      (err = PropU32(fdt, kPropPolicyHomeNode, static_cast<uint32_t>(g.policy.home_node))) ||
      (err = WriteTable(fdt, kFolioTable, g.folios, WriteFolio)) ||
      (err = WriteTable(fdt, kAttributeTable, ranges, WriteAttribute)) ||
      (err = WriteTable(fdt, kHashTable, g.hashes, WriteHash)) ||
      (err = WriteTable(fdt, kRestructureTable, g.restructures, WriteRestructure)) ||
      (err = WriteTable(fdt, kSplitRunTable, runs, WriteSplitRun)))
    return err;
  return fdt_end_node(fdt);
}

int WriteTree(void* fdt, const Snapshot& snap,
              const std::vector<std::vector<AttributeRange>>& ranges) {
  const uint32_t version[2] = {kFormatMajor, kFormatMinor};
  const SnapshotHeader& h = snap.header;
  int err;
  if ((err = fdt_finish_reservemap(fdt)) || (err = fdt_begin_node(fdt, "")) ||
      (err = fdt_property_string(fdt, kPropCompatible, kRootCompatible)) ||
      (err = fdt_property(fdt, kPropFormatVersion, version, sizeof version)) ||
      (err = PropU64(fdt, kPropChecksum, 0)) ||  // filled in once the blob is final
      (err = fdt_property_string(fdt, kPropProducer, h.producer.c_str())) ||
      (err = fdt_property_string(fdt, kPropKernelRelease, h.kernel_release.c_str())) ||
      (err = fdt_property_string(fdt, kPropBootId, h.boot_id.c_str())) ||
      (err = PropU64(fdt, kPropCaptureTime, h.capture_time_ns)) ||
      (err = PropU32(fdt, kPropPageSize, h.page_size)))
    return err;
  for (const Vm& vm : snap.vms)
    if ((err = WriteVm(fdt, vm))) return err;
  for (size_t i = 0; i < snap.gmems.size(); ++i)
    if ((err = WriteGmem(fdt, snap.gmems[i], ranges[i]))) return err;
  if ((err = fdt_end_node(fdt))) return err;
  return fdt_finish(fdt);
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
  std::vector<std::vector<AttributeRange>> ranges(snap.gmems.size());
  size_t bound = 4096 + snap.header.producer.size() + snap.header.kernel_release.size() +
                 snap.header.boot_id.size();
  for (const Vm& vm : snap.vms) bound += 512 + TableBound(kMemslotTable, vm.memslots.size());
  for (size_t i = 0; i < snap.gmems.size(); ++i) {
    const GuestMemfd& g = snap.gmems[i];
    ranges[i] = g.attributes.Ranges();
    size_t runs = 0;
    for (const RestructureRecord& r : g.restructures) runs += r.layout.size();
    bound += 1024 + g.name.size() + g.policy.nodemask.size() * 8 +
             TableBound(kFolioTable, g.folios.size()) +
             TableBound(kAttributeTable, ranges[i].size()) +
             TableBound(kHashTable, g.hashes.size()) +
             TableBound(kRestructureTable, g.restructures.size()) +
             TableBound(kSplitRunTable, runs);
  }
  // libfdt sizes are int and totalsize is 32-bit: one blob stays below 2 GiB.
  if (bound > static_cast<size_t>(INT32_MAX))
    return Status::InvalidArgument("fdt encode: snapshot needs " + std::to_string(bound) +
                                   " bytes, above the 2 GiB an FDT can hold");
  out->assign(bound, '\0');
  void* fdt = &(*out)[0];
  int err = fdt_create(fdt, static_cast<int>(bound));
  if (!err) err = WriteTree(fdt, snap, ranges);
  if (err)
    return Status::Internal(std::string("fdt encode: libfdt: ") + fdt_strerror(err) +
                            " (size bound " + std::to_string(bound) + ")");
  out->resize(fdt_totalsize(fdt));
  return SealFdt(out);
}

}  // namespace khod
