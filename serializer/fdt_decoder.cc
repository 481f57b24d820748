// DecodeFdt: flattened device tree -> Snapshot. Never trusts the blob: khod's
// bounded structure walk first (fdt_structure.h; no whole-tree libfdt call
// before it), then the whole-blob checksum, then every property's length
// before it is read, then CheckInvariants on the result.
#include <libfdt.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "common/coding.h"
#include "common/status_macros.h"
#include "common/thread_shares.h"
#include "serializer/fdt_checksum.h"
#include "serializer/fdt_layout.h"
#include "serializer/fdt_structure.h"
#include "serializer/format_version.h"
#include "serializer/older_minors.h"
#include "serializer/recorded_checksum.h"
#include "serializer/serializer.h"
#include "state/invariants.h"

namespace khod {
namespace {

using namespace fdt_layout;  // NOLINT: the layout constants are the vocabulary here

bool StartsWith(const std::string& s, const char* prefix) {
  return s.compare(0, std::strlen(prefix), prefix) == 0;
}

class FdtReader {
 public:
  // `threads` (>= 1): what the folio tables may be shared between.
  FdtReader(const void* fdt, int threads) : fdt_(fdt), threads_(threads) {}
  // The blob's format minor, once its root is read: a record field of a newer
  // minor than this reader's may hold what this reader does not know.
  void set_blob_minor(uint16_t minor) { blob_minor_ = minor; }

  // Property bytes, or nullptr with *len = 0 when absent: the first property
  // of that name, as fdt_getprop finds it. A node's properties are listed
  // once (fdt_getprop walks them from the first on every call: with tens of
  // lookups a node, that walk was most of decoding many small gmems).
  const uint8_t* Find(int node, const char* name, int* len) const {
    const std::vector<Prop>* props = PropsOf(node);
    if (props == nullptr) {  // a node whose listing failed: libfdt says why
      const void* p = fdt_getprop(fdt_, node, name, len);
      if (p == nullptr) *len = 0;
      return static_cast<const uint8_t*>(p);
    }
    for (const Prop& p : *props)
      if (std::strcmp(p.name, name) == 0) {
        *len = p.len;
        return p.data;
      }
    *len = 0;
    return nullptr;
  }

  Status Bytes(int node, const std::string& where, const char* name, int want,
               const uint8_t** out) const {
    int len;
    *out = Find(node, name, &len);
    if (*out == nullptr)
      return Status::Corruption("fdt: " + where + ": missing property '" + name + "'");
    if (want >= 0 && len != want)
      return Status::Corruption("fdt: " + where + ": property '" + name + "' is " +
                                std::to_string(len) + " bytes, expected " + std::to_string(want));
    return Status::Ok();
  }

  template <typename T>
  Status Int(int node, const std::string& where, const char* name, T* out) const {
    static_assert(std::is_integral_v<T> && (sizeof(T) == 4 || sizeof(T) == 8));
    const uint8_t* p;
    KHOD_RETURN_IF_ERROR(Bytes(node, where, name, sizeof(T), &p));
    // Native endian, as KHO's ABI (common/coding.h); FDT values are only 4-byte aligned.
    if constexpr (sizeof(T) == 8)
      *out = static_cast<T>(DecodeNative64(p));
    else
      *out = static_cast<T>(DecodeNative32(p));
    return Status::Ok();
  }

  // A u32 property narrowed to a small type; values past `max` are refused.
  template <typename T>
  Status Small(int node, const std::string& where, const char* name, uint32_t max, bool unsupported,
               T* out) const {
    uint32_t v = 0;  // set by Int; gcc -O1 (the sanitizer builds) cannot tell
    KHOD_RETURN_IF_ERROR(Int(node, where, name, &v));
    if (v > max) {
      std::string msg = "fdt: " + where + ": property '" + name + "' value " + std::to_string(v) +
                        " above " + std::to_string(max);
      return unsupported ? Status::Unsupported(msg + " (unknown to this reader)")
                         : Status::Corruption(msg);
    }
    *out = static_cast<T>(v);
    return Status::Ok();
  }

  Status String(int node, const std::string& where, const char* name, std::string* out) const {
    int len;
    const uint8_t* p = Find(node, name, &len);
    if (p == nullptr)
      return Status::Corruption("fdt: " + where + ": missing property '" + name + "'");
    if (len < 1 || p[len - 1] != '\0' || std::memchr(p, '\0', len) != p + len - 1)
      return Status::Corruption("fdt: " + where + ": property '" + name +
                                "' is not one NUL-terminated string");
    out->assign(reinterpret_cast<const char*>(p), len - 1);
    return Status::Ok();
  }

  // Compatible string of a node, "" when absent or malformed.
  std::string Compatible(int node) const {
    std::string c;
    return String(node, "", kPropCompatible, &c).ok() ? c : std::string();
  }

  // One chunk of a table: `n` records of `record_size` bytes from `data`.
  struct Chunk {
    const uint8_t* data;
    uint64_t n;
  };
  struct TableChunks {
    std::string where;  // the table's path, for messages
    uint32_t record_size = 0;
    uint64_t nr = 0;  // the records of every chunk together: nr-records, checked
    std::vector<Chunk> chunks;
  };

  // The chunks of table `spec` under `parent`, every rule of docs/FORMAT.md
  // "Tables" checked before any record is read or any room is made for one
  // (so never sized by a hostile nr-records). An absent table has none.
  Status Chunks(int parent, const std::string& parent_where, const TableSpec& spec,
                TableChunks* t) const {
    const int node = Subnode(parent, spec.node);
    if (node == -FDT_ERR_NOTFOUND) return Status::Ok();
    t->where = parent_where + "/" + spec.node;
    const std::string& where = t->where;
    if (node < 0) return Status::Corruption("fdt: " + where + ": " + fdt_strerror(node));
    const std::string compat = Compatible(node);
    if (compat != spec.compatible)
      return Status::Unsupported("fdt: " + where + ": compatible '" + compat + "', expected '" +
                                 spec.compatible + "'");
    uint32_t record_size;
    uint64_t nr;
    KHOD_RETURN_IF_ERROR(Int(node, where, kPropRecordSize, &record_size));
    KHOD_RETURN_IF_ERROR(Int(node, where, kPropNrRecords, &nr));
    // Newer minors may append fields to a record; v1.0 fields keep their place.
    if (record_size < spec.record_size)
      return Status::Corruption("fdt: " + where + ": record size " + std::to_string(record_size) +
                                " below " + std::to_string(spec.record_size));
    uint64_t seen = 0, next_chunk = 0;
    const size_t prefix_len = std::strlen(kChunkPrefix);
    const auto chunk = [&](const char* name, const uint8_t* data, int len) -> Status {
      if (data == nullptr || std::strncmp(name, kChunkPrefix, prefix_len) != 0) return Status::Ok();
      if (std::to_string(next_chunk) != name + prefix_len)
        return Status::Corruption("fdt: " + where + ": property '" + name + "' out of order, " +
                                  "expected " + kChunkPrefix + std::to_string(next_chunk));
      ++next_chunk;
      if (len % record_size != 0)
        return Status::Corruption("fdt: " + where + ": " + name + " length " + std::to_string(len) +
                                  " is not a multiple of " + std::to_string(record_size));
      const uint64_t n = len / record_size;
      if (seen + n > nr)
        return Status::Corruption("fdt: " + where + ": chunks hold more than nr-records " +
                                  std::to_string(nr));
      if (n > 0) t->chunks.push_back(Chunk{data, n});
      seen += n;
      return Status::Ok();
    };
    // The listing Compatible made, walked once; libfdt again where it could
    // not list them, to say why.
    if (const std::vector<Prop>* props = PropsOf(node)) {
      for (const Prop& p : *props) KHOD_RETURN_IF_ERROR(chunk(p.name, p.data, p.len));
    } else {
      int prop;
      fdt_for_each_property_offset(prop, fdt_, node) {
        const char* name;
        int len;
        const void* data = fdt_getprop_by_offset(fdt_, prop, &name, &len);
        KHOD_RETURN_IF_ERROR(chunk(name, static_cast<const uint8_t*>(data), len));
      }
      if (prop != -FDT_ERR_NOTFOUND)
        return Status::Corruption("fdt: " + where + ": " + fdt_strerror(prop));
    }
    if (seen != nr)
      return Status::Corruption("fdt: " + where + ": nr-records " + std::to_string(nr) +
                                " but chunks hold " + std::to_string(seen));
    t->record_size = record_size;
    t->nr = nr;
    return Status::Ok();
  }

  // Calls row(record_bytes) for each record of table `spec` under `parent`,
  // in order, after reserve(n) with n its records (checked against its
  // chunks first). A row that cannot fail returns void: no Status per record.
  template <typename RowFn, typename ReserveFn>
  Status Table(int parent, const std::string& parent_where, const TableSpec& spec, uint64_t* count,
               RowFn row, ReserveFn reserve) const {
    TableChunks t;
    KHOD_RETURN_IF_ERROR(Chunks(parent, parent_where, spec, &t));
    reserve(t.nr);
    for (const Chunk& c : t.chunks) {
      const uint8_t* data = c.data;
      if constexpr (std::is_invocable_v<RowFn, const uint8_t*, uint32_t>) {
        // A row that reads fields a later minor appended: it is told the record's size.
        for (uint64_t i = 0; i < c.n; ++i, data += t.record_size)
          KHOD_RETURN_IF_ERROR(row(data, t.record_size));
      } else if constexpr (std::is_void_v<decltype(row(data))>) {
        for (uint64_t i = 0; i < c.n; ++i, data += t.record_size) row(data);
      } else {
        for (uint64_t i = 0; i < c.n; ++i, data += t.record_size) KHOD_RETURN_IF_ERROR(row(data));
      }
    }
    *count = t.nr;
    return Status::Ok();
  }

  template <typename RowFn>
  Status Table(int parent, const std::string& parent_where, const TableSpec& spec, uint64_t* count,
               RowFn row) const {
    return Table(parent, parent_where, spec, count, row, [](uint64_t) {});
  }

  Status Vm(int node, const std::string& where, khod::Vm* vm) const {
    KHOD_RETURN_IF_ERROR(Int(node, where, kPropToken, &vm->token));
    KHOD_RETURN_IF_ERROR(Int(node, where, kPropVmType, &vm->vm_type));
    uint64_t n;
    return Table(node, where, kMemslotTable, &n, [&](const uint8_t* d) {
      vm->memslots.push_back(Memslot{
          DecodeNative32(d), DecodeNative32(d + 4), DecodeNative64(d + 8), DecodeNative64(d + 16),
          DecodeNative64(d + 24), DecodeNative64(d + 32), DecodeNative64(d + 40)});
      return Status::Ok();
    });
  }

  Status Gmem(int node, const std::string& where, GuestMemfd* g) const {
    KHOD_RETURN_IF_ERROR(Int(node, where, kPropToken, &g->token));
    KHOD_RETURN_IF_ERROR(Int(node, where, kPropInode, &g->inode));
    KHOD_RETURN_IF_ERROR(String(node, where, kPropName, &g->name));
    KHOD_RETURN_IF_ERROR(Small(node, where, kPropProvenance, 2, true, &g->provenance));
    KHOD_RETURN_IF_ERROR(Small(node, where, kPropKind, 2, true, &g->kind));
    KHOD_RETURN_IF_ERROR(Int(node, where, kPropSize, &g->size));
    KHOD_RETURN_IF_ERROR(Int(node, where, kPropFlags, &g->flags));
    KHOD_RETURN_IF_ERROR(Small(node, where, kPropBacking, 1, true, &g->backing));
    KHOD_RETURN_IF_ERROR(Small(node, where, kPropHstateOrder, 0xff, false, &g->hstate_order));
    KHOD_RETURN_IF_ERROR(Int(node, where, kPropVmToken, &g->vm_token));
    KHOD_RETURN_IF_ERROR(Int(node, where, kPropPolicyMode, &g->policy.mode));
    KHOD_RETURN_IF_ERROR(Int(node, where, kPropPolicyFlags, &g->policy.mode_flags));
    KHOD_RETURN_IF_ERROR(Int(node, where, kPropPolicyHomeNode, &g->policy.home_node));
    const uint8_t* mask;
    int mask_len;
    if ((mask = Find(node, kPropPolicyNodemask, &mask_len)) == nullptr || mask_len % 8 != 0)
      return Status::Corruption("fdt: " + where + ": property '" + kPropPolicyNodemask +
                                "' missing or not a u64 array");
    for (int i = 0; i < mask_len; i += 8) g->policy.nodemask.push_back(DecodeNative64(mask + i));

    // The folio table, a PFN run a record and millions of them, is sized
    // once (its chunks are checked first) and its chunks filled by index,
    // shared between the threads the caller gave (each chunk to one); its
    // facts (state/folio_list.h) are worked out on them too.
    TableChunks folio_table;
    KHOD_RETURN_IF_ERROR(Chunks(node, where, kFolioTable, &folio_table));
    FolioList::Extents& folios = g->folios.Mutable();
    folios.resize(folio_table.nr);
    FillFolios(folio_table, folios.data());
    g->folios.WorkOutFacts(threads_);  // which the invariants read next
    uint64_t n;
    std::vector<AttributeRange> ranges;
    KHOD_RETURN_IF_ERROR(Table(
        node, where, kAttributeTable, &n,
        [&](const uint8_t* d) {
          const AttributeRange r{DecodeNative64(d), DecodeNative64(d + 8), DecodeNative64(d + 16)};
          uint64_t end;
          if (r.count == 0 || r.value == 0 || __builtin_add_overflow(r.first, r.count, &end))
            return Status::Corruption("fdt: " + where + "/attributes: record " +
                                      std::to_string(ranges.size()) +
                                      " has count 0, value 0 or overflows");
          if (!ranges.empty() && r.first < ranges.back().first + ranges.back().count)
            return Status::Corruption("fdt: " + where + "/attributes: record " +
                                      std::to_string(ranges.size()) +
                                      " overlaps or precedes the previous range");
          ranges.push_back(r);
          return Status::Ok();
        },
        [&](uint64_t n) { ranges.reserve(n); }));
    g->attributes.Assign(ranges);
    KHOD_RETURN_IF_ERROR(Table(node, where, kHashTable, &n, [&](const uint8_t* d) {
      g->hashes.push_back(
          ContentHash{DecodeNative64(d), DecodeNative64(d + 8), DecodeNative64(d + 16)});
      return Status::Ok();
    }));
    std::vector<uint32_t> nr_runs;
    KHOD_RETURN_IF_ERROR(Table(node, where, kRestructureTable, &n, [&](const uint8_t* d) {
      RestructureRecord r;
      r.index = DecodeNative64(d);
      r.head_pfn = DecodeNative64(d + 8);
      r.memcg_id = DecodeNative64(d + 16);
      r.original_order = d[24];
      if (d[25] > 1)
        return Status::Corruption("fdt: " + where + "/restructures: record " +
                                  std::to_string(g->restructures.size()) + " in-progress byte " +
                                  std::to_string(d[25]) + " is not 0 or 1");
      r.in_progress = d[25] == 1;
      nr_runs.push_back(DecodeNative32(d + 28));
      g->restructures.push_back(std::move(r));
      return Status::Ok();
    }));
    std::vector<SplitRun> runs;
    KHOD_RETURN_IF_ERROR(Table(node, where, kSplitRunTable, &n, [&](const uint8_t* d) {
      runs.push_back(SplitRun{DecodeNative32(d), DecodeNative32(d + 4), d[8]});
      return Status::Ok();
    }));
    // Hand the split runs out to their records, in order.
    size_t next = 0;
    for (size_t i = 0; i < g->restructures.size(); ++i) {
      if (nr_runs[i] > runs.size() - next)
        return Status::Corruption("fdt: " + where + "/restructures: record " + std::to_string(i) +
                                  " claims more split runs than split-runs holds");
      g->restructures[i].layout.assign(runs.begin() + next, runs.begin() + next + nr_runs[i]);
      next += nr_runs[i];
    }
    if (next != runs.size())
      return Status::Corruption("fdt: " + where +
                                "/split-runs: " + std::to_string(runs.size() - next) +
                                " runs not claimed by any restructure record");
    return Observation(node, where, g);
  }

  // Format 1.1's properties and tables: how the gmem was observed. A 1.0
  // blob has none of them: every flag bit known, the inode's policy, every
  // page seen in full (GuestMemfd's defaults).
  Status Observation(int node, const std::string& where, GuestMemfd* g) const {
    int len;
    if (Find(node, kPropFlagsKnown, &len) != nullptr)
      KHOD_RETURN_IF_ERROR(Int(node, where, kPropFlagsKnown, &g->flags_known));
    if (Find(node, kPropPolicySource, &len) != nullptr)
      KHOD_RETURN_IF_ERROR(Small(node, where, kPropPolicySource, 2, true, &g->policy_source));
    if (Find(node, kPropPolicyHomeNodeUnseen, &len) != nullptr) {
      if (len != 0)
        return Status::Corruption("fdt: " + where + ": property '" + kPropPolicyHomeNodeUnseen +
                                  "' is not empty");
      g->policy.home_node_seen = false;
    }
    uint64_t n;
    KHOD_RETURN_IF_ERROR(Table(node, where, kVisibilityTable, &n, [&](const uint8_t* d) {
      const std::string rec = where + "/visibility: record " + std::to_string(g->visibility.size());
      if (d[16] > 2)
        return Status::Unsupported("fdt: " + rec + " visibility " + std::to_string(d[16]) +
                                   " unknown to this reader");
      for (int i = 17; i < 24; ++i)
        if (d[i] != 0) return Status::Corruption("fdt: " + rec + " reserved bytes are not zero");
      g->visibility.push_back(VisibilityRange{DecodeNative64(d), DecodeNative64(d + 8),
                                              static_cast<PageVisibility>(d[16])});
      return Status::Ok();
    }));
    std::vector<uint32_t> nr_words;
    KHOD_RETURN_IF_ERROR(
        Table(node, where, kMappingPolicyTable, &n, [&](const uint8_t* d, uint32_t size) {
          const std::string rec =
              where + "/mapping-policies: record " + std::to_string(g->mapping_policies.size());
          if (DecodeNative32(d + 44) != 0 || (size >= 56 && DecodeNative32(d + 52) != 0))
            return Status::Corruption("fdt: " + rec + " reserved bytes are not zero");
          const uint32_t policy_flags = size >= 56 ? DecodeNative32(d + 48) : 0;
          // A newer minor adds only flags a reader may ignore; this one's has no other.
          if ((policy_flags & ~kMappingPolicyHomeNodeUnseen) && blob_minor_ <= kFormatMinor)
            return Status::Corruption("fdt: " + rec + " policy flags " +
                                      Hex(policy_flags & ~kMappingPolicyHomeNodeUnseen) +
                                      " unknown in format 1." + std::to_string(blob_minor_));
          MappingPolicy m;
          m.policy.home_node_seen = !(policy_flags & kMappingPolicyHomeNodeUnseen);
          m.first_index = DecodeNative64(d);
          m.count = DecodeNative64(d + 8);
          m.start_address = DecodeNative64(d + 16);
          m.pid = static_cast<int32_t>(DecodeNative32(d + 24));
          m.policy.mode = static_cast<int32_t>(DecodeNative32(d + 28));
          m.policy.mode_flags = DecodeNative32(d + 32);
          m.policy.home_node = static_cast<int32_t>(DecodeNative32(d + 36));
          nr_words.push_back(DecodeNative32(d + 40));
          g->mapping_policies.push_back(std::move(m));
          return Status::Ok();
        }));
    std::vector<uint64_t> words;
    KHOD_RETURN_IF_ERROR(Table(node, where, kMappingNodemaskTable, &n, [&](const uint8_t* d) {
      words.push_back(DecodeNative64(d));
      return Status::Ok();
    }));
    // Hand the nodemask words out to their mapping policies, in order.
    size_t next = 0;
    for (size_t i = 0; i < g->mapping_policies.size(); ++i) {
      if (nr_words[i] > words.size() - next)
        return Status::Corruption("fdt: " + where + "/mapping-policies: record " +
                                  std::to_string(i) +
                                  " claims more nodemask words than mapping-nodemasks holds");
      g->mapping_policies[i].policy.nodemask.assign(words.begin() + next,
                                                    words.begin() + next + nr_words[i]);
      next += nr_words[i];
    }
    if (next != words.size())
      return Status::Corruption("fdt: " + where +
                                "/mapping-nodemasks: " + std::to_string(words.size() - next) +
                                " words not claimed by any mapping policy");
    return Status::Ok();
  }

 private:
  // The folio records of `t` into out[0, t.nr), chunks shared between the
  // threads in runs of about equal records.
  void FillFolios(const TableChunks& t, FolioExtent* out) const {
    std::vector<uint64_t> first(t.chunks.size()), weights(t.chunks.size());
    for (size_t c = 0, at = 0; c < t.chunks.size(); at += t.chunks[c].n, ++c) {
      first[c] = at;
      weights[c] = t.chunks[c].n;
    }
    const int shares = static_cast<int>(std::min<size_t>(threads_, t.chunks.size()));
    const std::vector<size_t> cuts = BalancedCuts(weights, shares);
    (void)RunShares(std::max(shares, 1), [&](int s) {
      for (size_t c = cuts[s]; c < cuts[s + 1]; ++c) {
        const uint8_t* d = t.chunks[c].data;
        FolioExtent* e = out + first[c];
        for (uint64_t i = 0; i < t.chunks[c].n; ++i, ++e, d += t.record_size) {
          e->first_index = DecodeNative64(d);
          e->first_pfn = DecodeNative64(d + 8);
          e->nr_folios = DecodeNative32(d + 16);
          e->order = d[20];
          e->flags = d[21];
        }
      }
      return Status::Ok();
    });
  }

  struct Prop {
    const char* name;
    const uint8_t* data;
    int len;
  };
  // The properties of `node` in order, listed on first use; nullptr when
  // libfdt cannot list them (then Find asks fdt_getprop, which says why).
  const std::vector<Prop>* PropsOf(int node) const {
    auto it = props_.find(node);
    if (it != props_.end()) return it->second.ok ? &it->second.props : nullptr;
    Listing& l = props_[node];
    int prop;
    fdt_for_each_property_offset(prop, fdt_, node) {
      const char* name;
      int len;
      const void* data = fdt_getprop_by_offset(fdt_, prop, &name, &len);
      if (data == nullptr || name == nullptr) return nullptr;  // l.ok stays false
      l.props.push_back(Prop{name, static_cast<const uint8_t*>(data), len});
    }
    l.ok = prop == -FDT_ERR_NOTFOUND;
    return l.ok ? &l.props : nullptr;
  }
  struct Listing {
    std::vector<Prop> props;
    bool ok = false;
  };
  mutable std::unordered_map<int, Listing> props_;  // by node offset

  // The offset of `parent`'s subnode `name`, as fdt_subnode_offset finds it
  // (the first whose name is `name`, or `name@...` for a name without '@'),
  // from a listing of its subnodes made on first use: fdt_subnode_offset
  // walks every tag before the match on each call, and a gmem's eight tables
  // are looked up by name (that walk was most of decoding many small gmems).
  int Subnode(int parent, const char* name) const {
    auto it = subnodes_.find(parent);
    if (it == subnodes_.end()) {
      std::vector<Named>& l = subnodes_[parent];
      int child;
      fdt_for_each_subnode(child, fdt_, parent) {
        int len = 0;
        const char* n = fdt_get_name(fdt_, child, &len);
        if (n == nullptr || len < 0) break;
        l.push_back(Named{std::string_view(n, static_cast<size_t>(len)), child});
      }
      if (child != -FDT_ERR_NOTFOUND) {  // not listable: libfdt says why
        subnodes_.erase(parent);
        return fdt_subnode_offset(fdt_, parent, name);
      }
      it = subnodes_.find(parent);
    }
    const std::string_view want(name);
    const bool unit = want.find('@') != std::string_view::npos;
    for (const Named& c : it->second)
      if (c.name == want ||
          (!unit && c.name.size() > want.size() && c.name.compare(0, want.size(), want) == 0 &&
           c.name[want.size()] == '@'))
        return c.offset;
    return -FDT_ERR_NOTFOUND;
  }
  struct Named {
    std::string_view name;
    int offset;
  };
  mutable std::unordered_map<int, std::vector<Named>> subnodes_;  // by parent offset
  const void* fdt_;
  int threads_;
  uint16_t blob_minor_ = 0;
};

// Structure, identity, version and (`own_checksum`) checksum of the blob,
// before any content.
Status CheckEnvelope(const void* fdt, size_t size, bool own_checksum) {
  if (size < sizeof(struct fdt_header))
    return Status::Corruption("fdt: truncated: " + std::to_string(size) +
                              " bytes, smaller than the FDT header");
  if (fdt_magic(fdt) != FDT_MAGIC) return Status::Corruption("fdt: bad magic (not an FDT)");
  int err = fdt_check_header(fdt);
  if (err) return Status::Corruption(std::string("fdt: bad header: ") + fdt_strerror(err));
  if (fdt_totalsize(fdt) > size)
    return Status::Corruption("fdt: truncated: blob is " + std::to_string(size) +
                              " bytes, header says " + std::to_string(fdt_totalsize(fdt)));
  KHOD_RETURN_IF_ERROR(CheckFdtStructure(fdt).WithContext("fdt: bad structure"));
  FdtReader r(fdt, /*threads=*/1);  // reads no table
  std::string compat;
  KHOD_RETURN_IF_ERROR(r.String(0, "/", kPropCompatible, &compat));
  if (compat != kRootCompatible) {
    if (StartsWith(compat, kRootCompatiblePrefix))
      return Status::Unsupported("fdt: root compatible '" + compat + "', this reader knows '" +
                                 kRootCompatible + "'");
    return Status::Corruption("fdt: root compatible '" + compat + "' is not a khod snapshot");
  }
  const uint8_t* version;
  KHOD_RETURN_IF_ERROR(r.Bytes(0, "/", kPropFormatVersion, 8, &version));
  if (DecodeNative32(version) != kFormatMajor)
    return Status::Unsupported("fdt: format major version " +
                               std::to_string(DecodeNative32(version)) + ", this reader knows " +
                               std::to_string(kFormatMajor));
  const uint8_t* sum;
  KHOD_RETURN_IF_ERROR(r.Bytes(0, "/", kPropChecksum, 8, &sum));
  if (!own_checksum) return Status::Ok();
  const uint8_t* base = static_cast<const uint8_t*>(fdt);
  if (FdtChecksum(base, fdt_totalsize(fdt), sum - base) != DecodeNative64(sum))
    return Status::Corruption("fdt: checksum mismatch");
  return Status::Ok();
}

Status DecodeTree(const void* fdt, int threads, Snapshot* snap) {
  FdtReader r(fdt, threads);
  const uint8_t* version;
  KHOD_RETURN_IF_ERROR(r.Bytes(0, "/", kPropFormatVersion, 8, &version));
  SnapshotHeader& h = snap->header;
  h.format_major = static_cast<uint16_t>(DecodeNative32(version));
  const uint32_t minor = DecodeNative32(version + 4);
  if (minor > 0xffff) return Status::Corruption("fdt: format minor " + std::to_string(minor));
  h.format_minor = static_cast<uint16_t>(minor);
  r.set_blob_minor(h.format_minor);
  KHOD_RETURN_IF_ERROR(r.String(0, "/", kPropProducer, &h.producer));
  KHOD_RETURN_IF_ERROR(r.String(0, "/", kPropKernelRelease, &h.kernel_release));
  KHOD_RETURN_IF_ERROR(r.String(0, "/", kPropBootId, &h.boot_id));
  KHOD_RETURN_IF_ERROR(r.Int(0, "/", kPropCaptureTime, &h.capture_time_ns));
  KHOD_RETURN_IF_ERROR(r.Int(0, "/", kPropPageSize, &h.page_size));
  int node;
  fdt_for_each_subnode(node, fdt, 0) {
    const std::string compat = r.Compatible(node);
    const std::string where = std::string("/") + fdt_get_name(fdt, node, nullptr);
    if (compat == kVmCompatible) {
      snap->vms.emplace_back();
      KHOD_RETURN_IF_ERROR(r.Vm(node, where, &snap->vms.back()));
    } else if (compat == kGmemCompatible) {
      snap->gmems.emplace_back();
      KHOD_RETURN_IF_ERROR(r.Gmem(node, where, &snap->gmems.back()));
    } else if (StartsWith(compat, kVmCompatiblePrefix) ||
               StartsWith(compat, kGmemCompatiblePrefix)) {
      return Status::Unsupported("fdt: " + where + ": compatible '" + compat +
                                 "' unknown to this reader");
    }
    // Anything else is a newer minor's addition: ignored.
  }
  if (node != -FDT_ERR_NOTFOUND)
    return Status::Corruption(std::string("fdt: walking root nodes: ") + fdt_strerror(node));
  return Status::Ok();
}

Status DecodeChecked(std::string_view blob, int threads, bool own_checksum, Snapshot* snap) {
  // libfdt wants an 8-byte aligned base; copy the rare misaligned caller.
  std::unique_ptr<uint64_t[]> aligned;
  const void* fdt = blob.data();
  if (reinterpret_cast<uintptr_t>(fdt) % 8 != 0) {
    aligned.reset(new uint64_t[blob.size() / 8 + 1]);
    std::memcpy(aligned.get(), blob.data(), blob.size());
    fdt = aligned.get();
  }
  KHOD_RETURN_IF_ERROR(CheckEnvelope(fdt, blob.size(), own_checksum));
  KHOD_RETURN_IF_ERROR(DecodeTree(fdt, threads, snap));
  ApplyOlderMinorRules(snap);
  return InvariantsStatus(*snap).WithContext("fdt");
}

}  // namespace

Status DecodeFdt(std::string_view blob, Snapshot* out, const CodecOptions& opts) {
  const int threads = ThreadsToUse(opts.threads);
  RecordedChecksum recorded(blob, opts.recorded_xxh3, threads > 1);
  Snapshot snap;
  KHOD_RETURN_IF_ERROR(
      recorded.Check("fdt", DecodeChecked(blob, threads, !recorded.given(), &snap)));
  *out = std::move(snap);
  return Status::Ok();
}

}  // namespace khod
