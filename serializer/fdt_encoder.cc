// EncodeFdt: Snapshot -> flattened device tree as libfdt's sequential-write
// API lays it out (no tree edits). Layout: serializer/fdt_layout.h, FORMAT.md.
// Two walks of one tree writer: FdtSizer counts the exact blob size (libfdt's
// layout and its property-name dedup), then FdtWriter fills a buffer of just
// that size, so no worst-case bound is allocated and zero-filled.
#include <libfdt.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "common/coding.h"
#include "common/status_macros.h"
#include "common/thread_shares.h"
#include "serializer/encode_guard.h"
#include "serializer/fdt_checksum.h"
#include "serializer/fdt_layout.h"
#include "serializer/fdt_structure.h"
#include "serializer/format_version.h"
#include "serializer/serializer.h"
#include "state/invariants.h"

namespace khod {
namespace {

using namespace fdt_layout;  // NOLINT: the layout constants are the vocabulary here

// The header, then the memory reservation map (its one entry, zero: the
// end) at 48, then the structure block: where libfdt's fdt_create and
// fdt_finish_reservemap put them.
constexpr uint32_t kReserveMapOffset = 48, kStructOffset = 64;

size_t Align(size_t n) { return (n + 3) & ~size_t{3}; }

// The strings block as libfdt's sequential writer builds it
// (fdt_find_add_string_): a property name is found as the first stored
// string, newest first, that ends with it; otherwise it is stored below the
// others, so the block is newest first. Offsets count back from the block's
// end until fdt_finish turns them into offsets from its start. libfdt scans
// the whole block for every property, the most of encoding many gmems
// (docs/PERFORMANCE.md); here each name's offset is kept.
class FdtStrings {
 public:
  // The offset of `name` from the end of the block, stored if need be.
  int64_t Offset(const char* name) {
    auto it = offsets_.find(name);
    if (it != offsets_.end()) return it->second;
    const std::string n(name);
    for (size_t at = 0; at < block_.size();) {
      const size_t len = std::strlen(block_.data() + at);
      if (len >= n.size() && block_.compare(at + len - n.size(), n.size(), n) == 0) {
        const int64_t off =
            static_cast<int64_t>(at + len - n.size()) - static_cast<int64_t>(block_.size());
        offsets_.emplace(n, off);
        return off;
      }
      at += len + 1;
    }
    block_.insert(0, n.c_str(), n.size() + 1);
    const int64_t off = -static_cast<int64_t>(block_.size());
    // A name kept before that the new string ends with is now found there.
    for (auto& [kept, kept_off] : offsets_)
      if (kept.size() <= n.size() && n.compare(n.size() - kept.size(), kept.size(), kept) == 0)
        kept_off = off + static_cast<int64_t>(n.size() - kept.size());
    offsets_.emplace(n, off);
    return off;
  }
  const std::string& block() const { return block_; }

 private:
  std::string block_;  // newest string first
  std::unordered_map<std::string, int64_t> offsets_;
};

// The Write* functions are lambdas so that each table's loop inlines its own
// (a function pointer is a call per record: most of encoding a large table).
constexpr auto WriteFolio = [](uint8_t* d, const FolioExtent& e) {
  EncodeNative64(d, e.first_index);
  EncodeNative64(d + 8, e.first_pfn);
  EncodeNative32(d + 16, e.nr_folios);
  d[20] = e.order;
  d[21] = e.flags;
  EncodeNative16(d + 22, 0);
};

// Writes the blob libfdt's sequential-write API (fdt_create,
// fdt_finish_reservemap, fdt_begin_node, fdt_property, fdt_finish) writes,
// byte for byte, with FdtStrings for the names. fdt_libfdt_layout_test
// writes the 1.3 golden's tree with libfdt and checks the two blobs are equal.
class FdtWriter {
 public:
  // `out` holds the blob's exact size (FdtSizer), zeroed.
  explicit FdtWriter(std::string* out)
      : out_(reinterpret_cast<uint8_t*>(&(*out)[0])), size_(out->size()) {}
  int BeginNode(const char* name) {
    const size_t len = std::strlen(name);
    uint8_t* p = Grab(4 + Align(len + 1));
    if (!p) return -FDT_ERR_NOSPACE;
    EncodeBigEndian32(p, FDT_BEGIN_NODE);
    std::memcpy(p + 4, name, len);
    return 0;
  }
  int EndNode() {
    uint8_t* p = Grab(4);
    if (!p) return -FDT_ERR_NOSPACE;
    EncodeBigEndian32(p, FDT_END_NODE);
    return 0;
  }
  int Placeholder(const char* name, int len, void** val) {
    uint8_t* p = Grab(12 + Align(static_cast<size_t>(len)));
    if (!p) return -FDT_ERR_NOSPACE;
    EncodeBigEndian32(p, FDT_PROP);
    EncodeBigEndian32(p + 4, static_cast<uint32_t>(len));
    name_fixups_.push_back({static_cast<size_t>(p + 8 - out_), strings_.Offset(name)});
    *val = p + 12;
    return 0;
  }
  int Prop(const char* name, const void* v, int len) {
    void* val;
    const int err = Placeholder(name, len, &val);
    if (!err && len > 0) std::memcpy(val, v, static_cast<size_t>(len));
    return err;
  }
  int PropString(const char* name, const char* v) {
    return Prop(name, v, static_cast<int>(std::strlen(v) + 1));
  }
  // fdt_property_u32/u64 store big-endian; KHO's convention is native endian.
  int PropU32(const char* name, uint32_t v) {
    void* val;
    const int err = Placeholder(name, 4, &val);
    if (!err) EncodeNative32(static_cast<uint8_t*>(val), v);
    return err;
  }
  int PropU64(const char* name, uint64_t v) {
    void* val;
    const int err = Placeholder(name, 8, &val);
    if (!err) EncodeNative64(static_cast<uint8_t*>(val), v);
    return err;
  }
  // A u64[] property, native endian like PropU64.
  int PropU64s(const char* name, const std::vector<uint64_t>& v) {
    void* val;
    const int err = Placeholder(name, static_cast<int>(v.size() * 8), &val);
    if (err) return err;
    uint8_t* d = static_cast<uint8_t*>(val);
    for (size_t i = 0; i < v.size(); ++i) EncodeNative64(d + 8 * i, v[i]);
    return 0;
  }

  // A folio table chunk's records, n of them from `rows`, to be written at
  // `dst` by FillFolios.
  void DeferFolios(uint8_t* dst, const FolioExtent* rows, size_t n) {
    folio_chunks_.push_back(FolioChunk{dst, rows, n});
  }
  // Writes every deferred folio chunk, the chunks shared between `threads`
  // in runs of about equal records: the bytes are those one thread writes.
  void FillFolios(int threads) {
    std::vector<uint64_t> weights;
    weights.reserve(folio_chunks_.size());
    for (const FolioChunk& c : folio_chunks_) weights.push_back(c.n);
    const int shares = static_cast<int>(std::min<size_t>(threads, folio_chunks_.size()));
    const std::vector<size_t> cuts = BalancedCuts(weights, shares);
    (void)RunShares(std::max(shares, 1), [&](int s) {
      for (size_t c = cuts[s]; c < cuts[s + 1]; ++c) {
        uint8_t* d = folio_chunks_[c].dst;
        for (size_t i = 0; i < folio_chunks_[c].n; ++i, d += kFolioTable.record_size)
          WriteFolio(d, folio_chunks_[c].rows[i]);
      }
      return Status::Ok();
    });
  }

  // FDT_END, the strings block after the structure block, the names' final
  // offsets and the header: what fdt_finish leaves.
  int Finish() {
    uint8_t* end = Grab(4);
    if (!end) return -FDT_ERR_NOSPACE;
    EncodeBigEndian32(end, FDT_END);
    const std::string& strings = strings_.block();
    const size_t struct_size = struct_ - kStructOffset;
    if (kStructOffset + struct_size + strings.size() != size_) return -FDT_ERR_NOSPACE;
    std::memcpy(out_ + struct_, strings.data(), strings.size());
    for (const NameFixup& f : name_fixups_)
      EncodeBigEndian32(out_ + f.at,
                        static_cast<uint32_t>(static_cast<int64_t>(strings.size()) + f.off));
    EncodeBigEndian32(out_ + 0, FDT_MAGIC);
    EncodeBigEndian32(out_ + 4, static_cast<uint32_t>(size_));
    EncodeBigEndian32(out_ + 8, kStructOffset);
    EncodeBigEndian32(out_ + 12, static_cast<uint32_t>(struct_));
    EncodeBigEndian32(out_ + 16, kReserveMapOffset);
    EncodeBigEndian32(out_ + 20, 17);  // version
    EncodeBigEndian32(out_ + 24, 16);  // last compatible version
    EncodeBigEndian32(out_ + 32, static_cast<uint32_t>(strings.size()));
    EncodeBigEndian32(out_ + 36, static_cast<uint32_t>(struct_size));
    return 0;
  }

 private:
  struct NameFixup {
    size_t at;    // the property's nameoff field
    int64_t off;  // from the end of the strings block
  };
  struct FolioChunk {
    uint8_t* dst;
    const FolioExtent* rows;
    size_t n;
  };
  uint8_t* Grab(size_t n) {
    if (struct_ + n > size_) return nullptr;
    uint8_t* p = out_ + struct_;
    struct_ += n;
    return p;
  }
  uint8_t* out_;
  size_t size_;
  size_t struct_ = kStructOffset;  // where the structure block grows
  FdtStrings strings_;
  std::vector<NameFixup> name_fixups_;
  std::vector<FolioChunk> folio_chunks_;
};

// Counts what FdtWriter writes: header and the empty reserve map, tags,
// 4-byte-aligned names and values, FDT_END, and the strings block
// (FdtStrings, the same names stored the same way).
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
    (void)strings_.Offset(name);
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
  int PropU64s(const char* name, const std::vector<uint64_t>& v) {
    return Prop(name, nullptr, static_cast<int>(v.size() * 8));
  }
  void DeferFolios(uint8_t*, const FolioExtent*, size_t) {}  // never called: no value to fill
  // fdt_finish's totalsize: header + reserve map, structure + FDT_END, strings.
  size_t total() const { return kStructOffset + struct_ + 4 + strings_.block().size(); }

 private:
  size_t struct_ = 0;
  FdtStrings strings_;
};

size_t RecordsPerChunk(const TableSpec& spec) { return kChunkBytes / spec.write_size(); }

// Writes one table node; `write(dst, row)` stores a row's record_size bytes. A folio
// table's chunks are left to the writer (FdtWriter::DeferFolios).
template <typename Sink, typename Rows, typename WriteFn>
int WriteTable(Sink& fdt, const TableSpec& spec, const Rows& rows, WriteFn write) {
  if (rows.empty()) return 0;  // an absent table is an empty one
  int err;
  if ((err = fdt.BeginNode(spec.node)) ||
      (err = fdt.PropString(kPropCompatible, spec.compatible)) ||
      (err = fdt.PropU32(kPropRecordSize, spec.write_size())) ||
      (err = fdt.PropU64(kPropNrRecords, rows.size())))
    return err;
  const size_t per_chunk = RecordsPerChunk(spec);
  char name[32];
  for (size_t first = 0, chunk = 0; first < rows.size(); first += per_chunk, ++chunk) {
    const size_t n = std::min(per_chunk, rows.size() - first);
    std::snprintf(name, sizeof name, "%s%zu", kChunkPrefix, chunk);
    void* val;
    if ((err = fdt.Placeholder(name, static_cast<int>(n * spec.write_size()), &val))) return err;
    uint8_t* dst = static_cast<uint8_t*>(val);
    if (!dst) continue;              // sizing pass
    const auto* row = &rows[first];  // every Rows here is contiguous
    if constexpr (std::is_same_v<Rows, FolioList>) {
      fdt.DeferFolios(dst, row, n);  // FdtWriter::FillFolios, on many threads
      continue;
    }
    for (size_t i = 0; i < n; ++i, dst += spec.write_size()) write(dst, row[i]);
  }
  return fdt.EndNode();
}

constexpr auto WriteAttribute = [](uint8_t* d, const AttributeRange& r) {
  EncodeNative64(d, r.first);
  EncodeNative64(d + 8, r.count);
  EncodeNative64(d + 16, r.value);
};

constexpr auto WriteHash = [](uint8_t* d, const ContentHash& h) {
  EncodeNative64(d, h.first_index);
  EncodeNative64(d + 8, h.count);
  EncodeNative64(d + 16, h.xxh3);
};

constexpr auto WriteRestructure = [](uint8_t* d, const RestructureRecord& r) {
  EncodeNative64(d, r.index);
  EncodeNative64(d + 8, r.head_pfn);
  EncodeNative64(d + 16, r.memcg_id);
  d[24] = r.original_order;
  d[25] = r.in_progress ? 1 : 0;
  EncodeNative16(d + 26, 0);
  EncodeNative32(d + 28, static_cast<uint32_t>(r.layout.size()));
};

constexpr auto WriteSplitRun = [](uint8_t* d, const SplitRun& s) {
  EncodeNative32(d, s.offset);
  EncodeNative32(d + 4, s.count);
  d[8] = s.order;
  d[9] = d[10] = d[11] = 0;
};

constexpr auto WriteMemslot = [](uint8_t* d, const Memslot& s) {
  EncodeNative32(d, s.slot);
  EncodeNative32(d + 4, s.flags);
  EncodeNative64(d + 8, s.base_gfn);
  EncodeNative64(d + 16, s.npages);
  EncodeNative64(d + 24, s.userspace_addr);
  EncodeNative64(d + 32, s.gmem_token);
  EncodeNative64(d + 40, s.gmem_offset);
};

constexpr auto WriteVisibility = [](uint8_t* d, const VisibilityRange& r) {
  EncodeNative64(d, r.first_index);
  EncodeNative64(d + 8, r.count);
  d[16] = static_cast<uint8_t>(r.visibility);
  std::memset(d + 17, 0, 7);
};

constexpr auto WriteMappingPolicy = [](uint8_t* d, const MappingPolicy& m) {
  EncodeNative64(d, m.first_index);
  EncodeNative64(d + 8, m.count);
  EncodeNative64(d + 16, m.start_address);
  EncodeNative32(d + 24, static_cast<uint32_t>(m.pid));
  EncodeNative32(d + 28, static_cast<uint32_t>(m.policy.mode));
  EncodeNative32(d + 32, m.policy.mode_flags);
  EncodeNative32(d + 36, static_cast<uint32_t>(m.policy.home_node));
  EncodeNative32(d + 40, static_cast<uint32_t>(m.policy.nodemask.size()));
  EncodeNative32(d + 44, 0);
  EncodeNative32(d + 48, m.policy.home_node_seen ? 0 : kMappingPolicyHomeNodeUnseen);
  EncodeNative32(d + 52, 0);
};

constexpr auto WriteNodemaskWord = [](uint8_t* d, const uint64_t& w) { EncodeNative64(d, w); };

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
      (err = fdt.PropU64s(kPropPolicyNodemask, g.policy.nodemask)) ||
      (err = fdt.PropU32(kPropPolicyHomeNode, static_cast<uint32_t>(g.policy.home_node))) ||
      (err = fdt.PropU64(kPropFlagsKnown, g.flags_known)) ||
      (err = fdt.PropU32(kPropPolicySource, static_cast<uint32_t>(g.policy_source))) ||
      (!g.policy.home_node_seen && (err = fdt.Prop(kPropPolicyHomeNodeUnseen, nullptr, 0))) ||
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
  uint8_t version[8];  // u32[2], native endian
  EncodeNative32(version, kFormatMajor);
  EncodeNative32(version + 4, kFormatMinor);
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

Status EncodeFdt(const Snapshot& snap, std::string* out, const CodecOptions& opts) {
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
  out->assign(size, '\0');  // padding and the reserve map's end entry stay zero
  FdtWriter writer(out);
  int err = WriteTree(writer, snap, rows);
  if (!err) err = writer.Finish();
  if (!err) writer.FillFolios(ThreadsToUse(opts.threads));
  void* fdt = &(*out)[0];
  if (err)
    return Status::Internal(std::string("fdt encode: libfdt: ") + fdt_strerror(err) + " (sized " +
                            std::to_string(size) + " bytes)");
  if (fdt_totalsize(fdt) != size)
    return Status::Internal("fdt encode: sized " + std::to_string(size) + " bytes, wrote " +
                            std::to_string(fdt_totalsize(fdt)));
  return SealFdt(out);
}

Result<std::vector<ByteRange>> SetFdtCaptureTime(std::string* blob, uint64_t capture_time_ns) {
  if (blob->size() < sizeof(struct fdt_header) || fdt_check_header(blob->data()) != 0 ||
      fdt_totalsize(blob->data()) != blob->size())
    return Status::InvalidArgument("fdt capture time: not a complete FDT");
  const Status structure = CheckFdtStructure(blob->data());
  if (!structure.ok()) return Status::InvalidArgument("fdt capture time: " + structure.message());
  // The offset of the root's 8-byte property `name`'s value.
  auto value_at = [&](const char* name) -> Result<size_t> {
    int len = 0;
    const void* v = fdt_getprop(blob->data(), 0, name, &len);
    if (v == nullptr || len != 8)
      return Status::InvalidArgument(std::string("fdt capture time: root has no 8-byte ") + name +
                                     " property");
    return static_cast<size_t>(static_cast<const char*>(v) - blob->data());
  };
  KHOD_ASSIGN_OR_RETURN(const size_t time_at, value_at(kPropCaptureTime));
  KHOD_ASSIGN_OR_RETURN(const size_t sum_at, value_at(kPropChecksum));
  uint8_t* const bytes = reinterpret_cast<uint8_t*>(&(*blob)[0]);
  EncodeNative64(bytes + time_at, capture_time_ns);  // as PropU64 writes it
  // Resealed in place: the header, structure and checksum property were
  // checked above, as SealFdt would check them again.
  EncodeNative64(bytes + sum_at, FdtChecksum(bytes, blob->size(), sum_at));
  return std::vector<ByteRange>{{time_at, time_at + 8}, {sum_at, sum_at + 8}};
}

}  // namespace khod
