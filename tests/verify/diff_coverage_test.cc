// No part of a snapshot is left out of the verdict without a reason. Every
// field of the protobuf form (proto/snapshot.proto) is enumerated from the
// message descriptors, not from a hand list, and mutated alone in a rich
// snapshot's blob: each scalar of every element of every repeated field,
// each element removed and one appended, each sub-message cleared, each
// member of each record of the varint tables (folio extents, attribute
// ranges, content hashes), and the format version the frame carries. The
// decoded result must
//   (a) be refused by the decoder, with a Corruption or Unsupported status;
//   (b) change the verdict of `khoctl verify` and of Restore's verify, in
//       both directions: a difference, or a change in what is named not
//       verified; or
//   (c) match an Allowance (kAllowances), which says why the verdict is right
//       not to change and checks it: the field is compared under an option
//       these verdicts leave off, or is named not verified, or is not the
//       guest's state.
// A mutation that does none of these fails with its field path, as does a
// field no mutation reached. Every mutation the decoder accepts also crosses
// the FDT form unchanged, so the FDT codec is held to the same fields.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "kernel/kvm_uapi.h"
#include "proto/snapshot.pb.h"
#include "serializer/format_version.h"
#include "serializer/frame.h"
#include "serializer/serializer.h"
#include "serializer/varint_tables.h"
#include "state/invariants.h"
#include "tests/serializer/golden_snapshot.h"
#include "verify/snapshot_diff.h"
#include "verify/verify_restored.h"

namespace khod {
namespace {

namespace pb = ::khod::snapshot::v1;
using ::google::protobuf::Descriptor;
using ::google::protobuf::EnumValueDescriptor;
using ::google::protobuf::FieldDescriptor;
using ::google::protobuf::Message;
using ::google::protobuf::Reflection;

constexpr uint64_t kPageSize = 4096;

// Sets every field of the format somewhere (RichSnapshotSetsEveryField): a
// kernel guest_memfd with VMM-mapping policies, attributes, hashes and all
// three visibilities; a MODEL HugeTLB file with an inode policy and a split
// huge folio; an empty memfd; initialized-only and unobservable
// guest_memfds; a kernel shmem memfd observed in full; VMs with and without
// memslots.
Snapshot RichSnapshot() {
  // The golden snapshot of format 1.1 (tests/serializer), and what it lacks.
  Snapshot s = GoldenSnapshotV1_1();
  s.header.format_major = kFormatMajor;
  s.header.format_minor = kFormatMinor;
  Vm vm1;
  vm1.token = 0x11;
  vm1.vm_type = 1;
  vm1.memslots = {{2, 1u << 2, 0x200000, 64, 0x7f2000000000ull, 0x2f, 2 * kPageSize}};
  Vm vm2;  // created, nothing bound yet
  vm2.token = 0x12;
  vm2.vm_type = 2;
  s.vms.push_back(vm1);
  s.vms.push_back(vm2);
  for (GuestMemfd& g : s.gmems) {
    if (g.token == 0x2a) g.attributes.Set(900, 10, kAttrPrivate | 0x10);  // a bit besides PRIVATE
    if (g.token == 0x2e) g.vm_token = 0x10;
  }

  GuestMemfd shm;  // a kernel shmem memfd, every page and PFN observed, hashed
  shm.token = 0x2f;
  shm.inode = 999;
  shm.name = "vm1-shm";
  shm.provenance = Provenance::kKernel;
  shm.kind = FileKind::kShmemMemfd;
  shm.size = 128 * kPageSize;
  shm.vm_token = 0x11;
  shm.policy = Mempolicy{1, 0, {0x2}, -1};
  shm.visibility = {{0, 128, PageVisibility::kFull}};
  shm.folios = {
      {0, 0x200000, 32, 0, kFolioUptodate | kFolioDirty},
      {40, 0x300000, 8, 0, kFolioUptodate},
      {64, 0x310000, 64, 0, kFolioUptodate},
  };
  shm.hashes = {{0, 32, 0x1111222233334444ull},
                {40, 8, 0x5555666677778888ull},
                {64, 64, 0x99990000aaaabbbbull}};

  s.gmems.push_back(shm);
  return s;
}

// ---------------------------------------------------------------------------
// Mutations, enumerated from the descriptors.

// The message a mutation edits, from the root: (field, element or -1) steps.
using Locator = std::vector<std::pair<const FieldDescriptor*, int>>;

Message* Navigate(Message* m, const Locator& loc) {
  for (const auto& [f, k] : loc) {
    const Reflection* r = m->GetReflection();
    m = k < 0 ? r->MutableMessage(m, f) : r->MutableRepeatedMessage(m, f, k);
  }
  return m;
}

struct Mutation {
  const FieldDescriptor* field;         // the proto field it changes; nullptr: the frame's
  std::string path;                     // "gmems[0].mapping_policies[1].policy.nodemask[0]"
  std::string what;                     // "1 -> 2", "element 1 removed", ...
  int gmem;                             // the gmems element it is in; -1: none
  std::function<void(Message*)> apply;  // to the root
  // The format version the KHODSNAP frame says (the snapshot header's).
  uint16_t major = kFormatMajor;
  uint16_t minor = kFormatMinor;
};

// `path` with every element index left out: "gmems[].policy.nodemask[]".
std::string Pattern(const std::string& path) {
  std::string out;
  bool in_index = false;
  for (char c : path) {
    if (in_index && c != ']') continue;
    in_index = c == '[';
    out += c;
  }
  return out;
}

// Values other than `v` a field of type T may take: its neighbours, steps of
// 512 (a 2 MiB folio in pages), 4096 (a page in bytes) and 2 MiB (in bytes),
// its double, zero, and -1 when signed.
template <typename T>
std::vector<T> Candidates(T v) {
  std::vector<T> out;
  auto add = [&](T c) {
    if (c != v && std::find(out.begin(), out.end(), c) == out.end()) out.push_back(c);
  };
  if constexpr (std::is_same_v<T, bool>) {
    add(!v);
  } else {
    const uint64_t w = static_cast<uint64_t>(v);
    for (uint64_t c : {w + 1, w - 1, w + 0x200, w + 0x1000, w + 0x200000, w * 2, uint64_t{0}})
      add(static_cast<T>(c));
    if constexpr (std::is_signed_v<T>) add(static_cast<T>(-1));
  }
  return out;
}

template <typename T>
std::string Text(T v) {
  if constexpr (std::is_same_v<T, bool>) {
    return v ? "true" : "false";
  } else {
    return std::to_string(+v);
  }
}

template <typename T>
std::string Change(T from, T to) {
  return Text(from) + " -> " + Text(to);
}

// The format version, which the proto form keeps in its frame, not in the
// message (serializer/frame.h).
void AddFrameMutations(std::vector<Mutation>* out) {
  auto keep = [](Message*) {};
  for (uint16_t c : Candidates(kFormatMajor))
    out->push_back(Mutation{nullptr, "frame.major", Change(kFormatMajor, c), -1, keep, c});
  for (uint16_t c : Candidates(kFormatMinor))
    out->push_back(
        Mutation{nullptr, "frame.minor", Change(kFormatMinor, c), -1, keep, kFormatMajor, c});
}

// The members of each table record, by structured binding: a member added to
// one of these records fails to compile here until it is mutated too.
template <typename Fn>
void ForEachMember(FolioExtent& e, Fn&& fn) {
  auto& [first_index, first_pfn, nr_folios, order, flags] = e;
  fn("first_index", first_index);
  fn("first_pfn", first_pfn);
  fn("nr_folios", nr_folios);
  fn("order", order);
  fn("flags", flags);
}
template <typename Fn>
void ForEachMember(AttributeRange& a, Fn&& fn) {
  auto& [first, count, value] = a;
  fn("first", first);
  fn("count", count);
  fn("value", value);
}
template <typename Fn>
void ForEachMember(ContentHash& h, Fn&& fn) {
  auto& [first_index, count, xxh3] = h;
  fn("first_index", first_index);
  fn("count", count);
  fn("xxh3", xxh3);
}

// One edit of a table: the stream and record count that replace it.
struct TableEdit {
  std::string where;  // "[2].flags", or "" for the whole table
  std::string what;
  std::string stream;
  uint64_t count;
};

// Each member of each record changed to each of its Candidates the stream
// can hold (`holds`), and each record removed, re-encoded with the table's
// own encoder.
template <typename Record, typename Encode, typename Holds>
std::vector<TableEdit> RecordEdits(const std::vector<Record>& records, Encode encode, Holds holds) {
  std::vector<TableEdit> out;
  for (size_t i = 0; i < records.size(); ++i) {
    const std::string at = "[" + std::to_string(i) + "]";
    Record probe = records[i];
    int member = 0;
    ForEachMember(probe, [&](const char* name, auto value) {
      const int index = member++;
      for (decltype(value) c : Candidates(value)) {
        std::vector<Record> edited = records;
        int j = 0;
        ForEachMember(edited[i], [&](const char*, auto& m) {
          if (j++ == index) m = static_cast<std::decay_t<decltype(m)>>(c);
        });
        if (holds(edited[i]))
          out.push_back({at + "." + name, Change(value, c), encode(edited), edited.size()});
      }
    });
    std::vector<Record> removed = records;
    removed.erase(removed.begin() + i);
    out.push_back({"", "record " + at + " removed", encode(removed), removed.size()});
  }
  return out;
}

// A `bytes` field of pb::GuestMemfd holding a varint table
// (serializer/varint_tables.h), with the field counting its records.
struct Table {
  const char* field;
  const char* count_field;
  std::vector<TableEdit> (*edits)(const std::string& stream, uint64_t count);
};

std::vector<TableEdit> FolioEdits(const std::string& stream, uint64_t count) {
  FolioList list;
  const Status st = DecodeFolioStream(stream, count, &list);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return RecordEdits(
      std::vector<FolioExtent>(list.begin(), list.end()),
      [](const std::vector<FolioExtent>& v) {
        FolioList l;
        for (const FolioExtent& e : v) l.push_back(e);
        std::string out;
        EncodeFolioStream(l, &out);
        return out;
      },
      // The order byte holds 6 bits, and pages() shifts by it.
      [](const FolioExtent& e) { return e.order < 64; });
}

std::vector<TableEdit> AttributeEdits(const std::string& stream, uint64_t count) {
  std::vector<AttributeRange> ranges;
  const Status st = DecodeAttributeStream(stream, count, &ranges);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return RecordEdits(
      ranges,
      [](const std::vector<AttributeRange>& v) {
        std::string out;
        EncodeAttributeStream(v, &out);
        return out;
      },
      [](const AttributeRange&) { return true; });
}

std::vector<TableEdit> HashEdits(const std::string& stream, uint64_t count) {
  std::vector<ContentHash> hashes;
  const Status st = DecodeHashStream(stream, count, &hashes);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return RecordEdits(
      hashes,
      [](const std::vector<ContentHash>& v) {
        std::string out;
        EncodeHashStream(v, &out);
        return out;
      },
      [](const ContentHash&) { return true; });
}

const Table kTables[] = {
    {"folio_extents", "nr_folio_extents", FolioEdits},
    {"attribute_ranges", "nr_attribute_ranges", AttributeEdits},
    {"content_hashes", "nr_content_hashes", HashEdits},
};

const Table* TableOf(const FieldDescriptor* f) {
  if (f->containing_type() != pb::GuestMemfd::descriptor()) return nullptr;
  for (const Table& t : kTables)
    if (f->name() == t.field) return &t;
  return nullptr;
}

class Walker {
 public:
  explicit Walker(std::vector<Mutation>* out) : out_(out) {}

  void Walk(const Message& m, const Locator& loc, const std::string& path, int gmem) {
    const Descriptor* d = m.GetDescriptor();
    const Reflection* r = m.GetReflection();
    for (int i = 0; i < d->field_count(); ++i) {
      const FieldDescriptor* f = d->field(i);
      const std::string fp = path.empty() ? f->name() : path + "." + f->name();
      if (f->is_map() || (f->cpp_type() == FieldDescriptor::CPPTYPE_STRING && f->is_repeated())) {
        ADD_FAILURE() << fp << ": a field of a kind this test cannot mutate yet; teach it";
        continue;
      }
      if (f->is_repeated()) {
        const int n = r->FieldSize(m, f);
        for (int k = 0; k < n; ++k) {
          const std::string ep = fp + "[" + std::to_string(k) + "]";
          const int g =
              loc.empty() && f == pb::Snapshot::descriptor()->FindFieldByName("gmems") ? k : gmem;
          Locator child = loc;
          child.push_back({f, k});
          if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE)
            Walk(r->GetRepeatedMessage(m, f, k), child, ep, g);
          else
            Scalar(m, loc, f, k, ep, gmem);
        }
        Structural(m, loc, f, fp, gmem);
      } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
        Locator child = loc;
        child.push_back({f, -1});
        Walk(r->GetMessage(m, f), child, fp, gmem);
        if (r->GetMessage(m, f).ByteSizeLong() > 0)
          Emit(f, fp, "cleared", gmem, loc,
               [f](Message* p) { p->GetReflection()->ClearField(p, f); });
      } else if (const Table* t = TableOf(f)) {
        TableRecords(m, loc, f, *t, fp, gmem);
      } else {
        Scalar(m, loc, f, -1, fp, gmem);
      }
    }
  }

 private:
  void Emit(const FieldDescriptor* f, const std::string& path, std::string what, int gmem,
            const Locator& loc, std::function<void(Message*)> edit) {
    out_->push_back(Mutation{f, path, std::move(what), gmem,
                             [loc, edit](Message* root) { edit(Navigate(root, loc)); }});
  }

  // Field `f` of `m` (element `k` when repeated, else -1) to each candidate.
  void Scalar(const Message& m, const Locator& loc, const FieldDescriptor* f, int k,
              const std::string& path, int gmem) {
    const Reflection* r = m.GetReflection();
    auto each = [&](auto v, auto set) {
      for (decltype(v) c : Candidates(v))
        Emit(f, path, Change(v, c), gmem, loc, [set, c](Message* p) { set(p, c); });
    };
    switch (f->cpp_type()) {
      case FieldDescriptor::CPPTYPE_INT32:
        each(k < 0 ? r->GetInt32(m, f) : r->GetRepeatedInt32(m, f, k),
             [f, k](Message* p, int32_t c) {
               if (k < 0)
                 p->GetReflection()->SetInt32(p, f, c);
               else
                 p->GetReflection()->SetRepeatedInt32(p, f, k, c);
             });
        break;
      case FieldDescriptor::CPPTYPE_INT64:
        each(k < 0 ? r->GetInt64(m, f) : r->GetRepeatedInt64(m, f, k),
             [f, k](Message* p, int64_t c) {
               if (k < 0)
                 p->GetReflection()->SetInt64(p, f, c);
               else
                 p->GetReflection()->SetRepeatedInt64(p, f, k, c);
             });
        break;
      case FieldDescriptor::CPPTYPE_UINT32:
        each(k < 0 ? r->GetUInt32(m, f) : r->GetRepeatedUInt32(m, f, k),
             [f, k](Message* p, uint32_t c) {
               if (k < 0)
                 p->GetReflection()->SetUInt32(p, f, c);
               else
                 p->GetReflection()->SetRepeatedUInt32(p, f, k, c);
             });
        break;
      case FieldDescriptor::CPPTYPE_UINT64:
        each(k < 0 ? r->GetUInt64(m, f) : r->GetRepeatedUInt64(m, f, k),
             [f, k](Message* p, uint64_t c) {
               if (k < 0)
                 p->GetReflection()->SetUInt64(p, f, c);
               else
                 p->GetReflection()->SetRepeatedUInt64(p, f, k, c);
             });
        break;
      case FieldDescriptor::CPPTYPE_BOOL:
        each(k < 0 ? r->GetBool(m, f) : r->GetRepeatedBool(m, f, k), [f, k](Message* p, bool c) {
          if (k < 0)
            p->GetReflection()->SetBool(p, f, c);
          else
            p->GetReflection()->SetRepeatedBool(p, f, k, c);
        });
        break;
      case FieldDescriptor::CPPTYPE_ENUM: {
        const EnumValueDescriptor* v = k < 0 ? r->GetEnum(m, f) : r->GetRepeatedEnum(m, f, k);
        for (int i = 0; i < f->enum_type()->value_count(); ++i) {
          const EnumValueDescriptor* c = f->enum_type()->value(i);
          if (c != v)
            Emit(f, path, v->name() + " -> " + c->name(), gmem, loc, [f, k, c](Message* p) {
              if (k < 0)
                p->GetReflection()->SetEnum(p, f, c);
              else
                p->GetReflection()->SetRepeatedEnum(p, f, k, c);
            });
        }
        break;
      }
      case FieldDescriptor::CPPTYPE_STRING:
        if (f->type() == FieldDescriptor::TYPE_BYTES)
          BytesField(m, loc, f, path, gmem);
        else
          StringField(m, loc, f, path, gmem);
        break;
      default:
        ADD_FAILURE() << path << ": a field type this test cannot mutate yet; teach it";
    }
  }

  void StringField(const Message& m, const Locator& loc, const FieldDescriptor* f,
                   const std::string& path, int gmem) {
    const std::string v = m.GetReflection()->GetString(m, f);
    std::vector<std::string> candidates = {v + "x"};
    if (!v.empty()) candidates.push_back("");
    for (const std::string& c : candidates)
      Emit(f, path, "'" + v + "' -> '" + c + "'", gmem, loc,
           [f, c](Message* p) { p->GetReflection()->SetString(p, f, c); });
  }

  // A `bytes` field no Table describes: every byte flipped, the last one
  // dropped, one appended. Mutations the verdict does not see fail, asking
  // for a Table with record mutations for it.
  void BytesField(const Message& m, const Locator& loc, const FieldDescriptor* f,
                  const std::string& path, int gmem) {
    const std::string v = m.GetReflection()->GetString(m, f);
    std::vector<std::pair<std::string, std::string>> edits;
    for (size_t i = 0; i < v.size(); ++i) {
      std::string c = v;
      c[i] = static_cast<char>(c[i] ^ 1);
      edits.push_back({"byte " + std::to_string(i) + " ^ 0x01", c});
    }
    if (!v.empty()) edits.push_back({"last byte dropped", v.substr(0, v.size() - 1)});
    edits.push_back({"byte 0x00 appended", v + std::string(1, '\0')});
    for (auto& [what, c] : edits)
      Emit(f, path, what, gmem, loc,
           [f, c = c](Message* p) { p->GetReflection()->SetString(p, f, c); });
  }

  void TableRecords(const Message& m, const Locator& loc, const FieldDescriptor* f, const Table& t,
                    const std::string& path, int gmem) {
    const FieldDescriptor* count = m.GetDescriptor()->FindFieldByName(t.count_field);
    ASSERT_NE(count, nullptr) << t.count_field;
    const Reflection* r = m.GetReflection();
    for (TableEdit& e : t.edits(r->GetString(m, f), r->GetUInt64(m, count)))
      Emit(f, path + e.where, e.what, gmem, loc,
           [f, count, stream = e.stream, n = e.count](Message* p) {
             p->GetReflection()->SetString(p, f, stream);
             p->GetReflection()->SetUInt64(p, count, n);
           });
  }

  // Each element of repeated field `f` removed, and a copy of its last (a
  // default element when there is none) appended.
  void Structural(const Message& m, const Locator& loc, const FieldDescriptor* f,
                  const std::string& path, int gmem) {
    const int n = m.GetReflection()->FieldSize(m, f);
    for (int k = 0; k < n; ++k)
      Emit(f, path, "element " + std::to_string(k) + " removed", gmem, loc, [f, k, n](Message* p) {
        const Reflection* r = p->GetReflection();
        for (int j = k; j + 1 < n; ++j) r->SwapElements(p, f, j, j + 1);
        r->RemoveLast(p, f);
      });
    Emit(f, path, n ? "copy of the last element appended" : "default element appended", gmem, loc,
         [f, n](Message* p) { AppendCopyOfLast(p, f, n); });
  }

  static void AppendCopyOfLast(Message* p, const FieldDescriptor* f, int n) {
    const Reflection* r = p->GetReflection();
    switch (f->cpp_type()) {
      case FieldDescriptor::CPPTYPE_MESSAGE: {
        Message* added = r->AddMessage(p, f);
        if (n) added->CopyFrom(r->GetRepeatedMessage(*p, f, n - 1));
        break;
      }
      case FieldDescriptor::CPPTYPE_INT32:
        r->AddInt32(p, f, n ? r->GetRepeatedInt32(*p, f, n - 1) : 0);
        break;
      case FieldDescriptor::CPPTYPE_INT64:
        r->AddInt64(p, f, n ? r->GetRepeatedInt64(*p, f, n - 1) : 0);
        break;
      case FieldDescriptor::CPPTYPE_UINT32:
        r->AddUInt32(p, f, n ? r->GetRepeatedUInt32(*p, f, n - 1) : 0);
        break;
      case FieldDescriptor::CPPTYPE_UINT64:
        r->AddUInt64(p, f, n ? r->GetRepeatedUInt64(*p, f, n - 1) : 0);
        break;
      case FieldDescriptor::CPPTYPE_BOOL:
        r->AddBool(p, f, n ? r->GetRepeatedBool(*p, f, n - 1) : false);
        break;
      default:
        ADD_FAILURE() << f->full_name() << ": a repeated type this test cannot append yet";
    }
  }

  std::vector<Mutation>* out_;
};

// Every field of every message reachable from pb::Snapshot.
std::vector<const FieldDescriptor*> AllFields() {
  std::vector<const FieldDescriptor*> out;
  std::set<const Descriptor*> seen;
  std::vector<const Descriptor*> todo = {pb::Snapshot::descriptor()};
  while (!todo.empty()) {
    const Descriptor* d = todo.back();
    todo.pop_back();
    if (!seen.insert(d).second) continue;
    for (int i = 0; i < d->field_count(); ++i) {
      out.push_back(d->field(i));
      if (d->field(i)->message_type()) todo.push_back(d->field(i)->message_type());
    }
  }
  return out;
}

// Marks each field `m` holds a value of other than its default.
void MarkSet(const Message& m, std::set<const FieldDescriptor*>* set) {
  const Reflection* r = m.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  r->ListFields(m, &fields);  // proto3: the fields other than their default
  for (const FieldDescriptor* f : fields) {
    set->insert(f);
    if (f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (f->is_repeated())
      for (int k = 0; k < r->FieldSize(m, f); ++k) MarkSet(r->GetRepeatedMessage(m, f, k), set);
    else
      MarkSet(r->GetMessage(m, f), set);
  }
}

std::string Framed(const pb::Snapshot& m, uint16_t major = kFormatMajor,
                   uint16_t minor = kFormatMinor) {
  std::string payload, blob;
  EXPECT_TRUE(m.SerializeToString(&payload));
  WriteFrame(major, minor, payload, &blob);
  return blob;
}

pb::Snapshot Payload(const Snapshot& s) {
  std::string blob;
  const Status st = EncodeProto(s, &blob);
  EXPECT_TRUE(st.ok()) << st.ToString();
  Result<FrameInfo> frame = ReadFrame(blob, kFormatMajor);
  EXPECT_TRUE(frame.ok()) << frame.status().ToString();
  pb::Snapshot m;
  EXPECT_TRUE(m.ParseFromArray(frame->payload.data(), static_cast<int>(frame->payload.size())));
  return m;
}

// ---------------------------------------------------------------------------
// Verdicts.

enum ProfileBit : unsigned { kVerifyCmd = 1, kRestore = 2, kBoth = 3 };

struct Profile {
  ProfileBit bit;
  const char* name;
  SnapshotDiff (*run)(const Snapshot& expected, const Snapshot& found);
};

// `khoctl verify` of a snapshot with content hashes (khoctl/cmd_verify.cc),
// and Restore's verify of the restored state (verify/verify_restored.h).
const Profile kProfiles[] = {
    {kVerifyCmd, "khoctl verify",
     [](const Snapshot& e, const Snapshot& f) { return DiffSnapshots(e, f); }},
    {kRestore, "restore verify",
     [](const Snapshot& e, const Snapshot& f) { return VerifyRestored(e, f).diff; }},
};

// Whether `x` says exactly what `y` says, and neither lists a difference.
bool SameVerdict(const SnapshotDiff& x, const SnapshotDiff& y) {
  if (!x.differences.empty() || !y.differences.empty()) return false;
  if (x.counts.pages_equal != y.counts.pages_equal ||
      x.counts.pages_different != y.counts.pages_different ||
      x.counts.pages_unverified != y.counts.pages_unverified ||
      x.unverified.size() != y.unverified.size())
    return false;
  for (size_t i = 0; i < x.unverified.size(); ++i)
    if (x.unverified[i].ToString() != y.unverified[i].ToString() ||
        x.unverified[i].pages != y.unverified[i].pages)
      return false;
  return true;
}

// ---------------------------------------------------------------------------
// What the verdict is right not to see, each with its reason.

enum class Expect {
  kOptIn,     // compared under `opt_in`, which these verdicts leave off: asserted
  kNamed,     // named not verified: the gmem's not-verified parts hold `named`
  kNotState,  // not the guest's state, nor how it was observed
};

// Does the change from `original` to `mutated` (one gmem) fit the reason?
using Applies = bool (*)(const GuestMemfd& original, const GuestMemfd& mutated);

struct Allowance {
  unsigned profiles;
  // A field path with its indexes left out ("gmems[].inode"); a trailing '*'
  // also matches every path below it.
  const char* pattern;
  Expect expect;
  const char* named;               // kNamed
  void (*opt_in)(DiffOptions* o);  // kOptIn
  Applies applies;                 // nullptr: whatever the change
  const char* reason;
};

PageVisibility VisibilityAt(const GuestMemfd& g, uint64_t page) {
  for (const VisibilityRange& r : g.visibility)
    if (page >= r.first_index && page < r.end_index()) return r.visibility;
  return PageVisibility::kFull;
}

struct PageState {
  bool resident = false;
  uint8_t order = 0;
  uint64_t pfn = kPfnUnknown;
  uint8_t flags = 0;
};

std::vector<PageState> PerPage(const GuestMemfd& g, uint64_t pages) {
  std::vector<PageState> out(pages);
  for (const FolioExtent& e : g.folios)
    for (uint64_t p = e.first_index; p < std::min(e.end_index(), pages); ++p)
      out[p] = {true, e.order,
                e.first_pfn == kPfnUnknown ? kPfnUnknown : e.first_pfn + (p - e.first_index),
                e.flags};
  return out;
}

// How two observations of one gmem differ, page by page, by the contract of
// verify/snapshot_diff.h.
enum class PageChange {
  kNone,        // every page the same, and seen the same
  kUnobserved,  // only where the contract compares nothing
  kObserved,    // somewhere it compares, or outside the folios and visibility
};

// Nothing is compared of a page either capture saw kNone; only whether it is
// initialized where either saw it kInitializedOnly; and neither the PFN nor
// the folio flags of a page resident on both whose PFN either did not see.
PageChange ChangeOfPages(const GuestMemfd& original, const GuestMemfd& mutated) {
  GuestMemfd rest = mutated;
  rest.folios = original.folios;
  rest.visibility = original.visibility;
  if (!(rest == original)) return PageChange::kObserved;
  const uint64_t pages = std::max(original.size, mutated.size) / kPageSize;
  const std::vector<PageState> a = PerPage(original, pages), b = PerPage(mutated, pages);
  PageChange change = PageChange::kNone;
  for (uint64_t p = 0; p < pages; ++p) {
    const PageVisibility va = VisibilityAt(original, p), vb = VisibilityAt(mutated, p);
    if (va != vb || a[p].resident != b[p].resident || a[p].order != b[p].order ||
        a[p].pfn != b[p].pfn || a[p].flags != b[p].flags)
      change = PageChange::kUnobserved;
    const PageVisibility v = std::max(va, vb);
    if (v == PageVisibility::kNone) continue;
    if (a[p].resident != b[p].resident) return PageChange::kObserved;
    if (v == PageVisibility::kInitializedOnly || !a[p].resident) continue;
    if (a[p].order != b[p].order) return PageChange::kObserved;
    if (a[p].pfn == kPfnUnknown || b[p].pfn == kPfnUnknown) continue;
    if (a[p].pfn != b[p].pfn || a[p].flags != b[p].flags) return PageChange::kObserved;
  }
  return change;
}

bool OnlyUnobservedPagesDiffer(const GuestMemfd& original, const GuestMemfd& mutated) {
  return ChangeOfPages(original, mutated) == PageChange::kUnobserved;
}

bool SamePagesSeenTheSame(const GuestMemfd& original, const GuestMemfd& mutated) {
  return ChangeOfPages(original, mutated) == PageChange::kNone;
}

constexpr uint64_t kDefinedFlags = uapi::kGuestMemfdFlagMmap | uapi::kGuestMemfdFlagInitShared;

// Only the creation flags, or which of their bits a capture saw, differ; no
// bit both captures saw.
bool NoFlagBitBothSawDiffers(const GuestMemfd& original, const GuestMemfd& mutated) {
  GuestMemfd rest = mutated;
  rest.flags = original.flags;
  rest.flags_known = original.flags_known;
  return rest == original &&
         ((original.flags ^ mutated.flags) & original.flags_known & mutated.flags_known) == 0;
}

// Whether a defined creation flag bit, or whether a capture saw it, differs.
bool DefinedFlagBitsDiffer(const GuestMemfd& original, const GuestMemfd& mutated) {
  return ((original.flags ^ mutated.flags) | (original.flags_known ^ mutated.flags_known)) &
         kDefinedFlags;
}

// A guest_memfd's defined creation flag bit either capture did not see.
bool UnseenGmemFlagBit(const GuestMemfd& original, const GuestMemfd& mutated) {
  return original.kind == FileKind::kGuestMemfd && NoFlagBitBothSawDiffers(original, mutated) &&
         DefinedFlagBitsDiffer(original, mutated);
}

// The same, of one file: the same inode on both sides.
bool UnseenGmemFlagBitOfOneFile(const GuestMemfd& original, const GuestMemfd& mutated) {
  return UnseenGmemFlagBit(original, mutated) && original.inode == mutated.inode;
}

// Only bits no creation flag defines, or which of them a capture saw.
bool OnlyUndefinedFlagBitsDiffer(const GuestMemfd& original, const GuestMemfd& mutated) {
  return NoFlagBitBothSawDiffers(original, mutated) && !DefinedFlagBitsDiffer(original, mutated);
}

// Which flag bits a capture saw, of a memfd (guest_memfd creation flags do
// not apply to it).
bool MemfdFlagsKnown(const GuestMemfd& original, const GuestMemfd& mutated) {
  return original.kind != FileKind::kGuestMemfd && mutated.kind == original.kind &&
         mutated.flags == original.flags && NoFlagBitBothSawDiffers(original, mutated);
}

// Only the inode policy's trailing zero nodemask words differ, which name no node.
bool OnlyTrailingZeroNodeWordsDiffer(const GuestMemfd& original, const GuestMemfd& mutated) {
  GuestMemfd rest = mutated;
  rest.policy.nodemask = original.policy.nodemask;
  return rest == original && SameNodes(original.policy.nodemask, mutated.policy.nodemask);
}

// Only the policy source differs, and one side read the policy from VMM
// mappings none of which had a policy.
bool PolicySourceWithNothingToHandOver(const GuestMemfd& original, const GuestMemfd& mutated) {
  GuestMemfd rest = mutated;
  rest.policy_source = original.policy_source;
  if (!(rest == original)) return false;
  for (const MappingPolicy& m : original.mapping_policies)
    if (m.policy.mode != 0) return false;
  return original.policy_source == PolicySource::kVmmMappings ||
         mutated.policy_source == PolicySource::kVmmMappings;
}

const Allowance kAllowances[] = {
    {kBoth, "gmems[].policy.nodemask*", Expect::kNotState, nullptr, nullptr,
     OnlyTrailingZeroNodeWordsDiffer,
     "a nodemask's trailing zero words name no node (kernel/memory_facts.h SameNodes)"},
    {kBoth, "header.producer", Expect::kOptIn, nullptr,
     [](DiffOptions* o) { o->compare_header = true; }, nullptr,
     "differs between any two captures: compared only under DiffOptions::compare_header"},
    {kBoth, "header.kernel_release", Expect::kOptIn, nullptr,
     [](DiffOptions* o) { o->compare_header = true; }, nullptr,
     "a live update changes the kernel: compared only under DiffOptions::compare_header"},
    {kBoth, "header.boot_id", Expect::kOptIn, nullptr,
     [](DiffOptions* o) { o->compare_header = true; }, nullptr,
     "a kexec is a new boot: compared only under DiffOptions::compare_header"},
    {kBoth, "header.capture_time_ns", Expect::kOptIn, nullptr,
     [](DiffOptions* o) { o->compare_header = true; }, nullptr,
     "when a capture ran is not the guest's state: compared only under "
     "DiffOptions::compare_header"},
    {kBoth, "frame.minor", Expect::kOptIn, nullptr,
     [](DiffOptions* o) { o->compare_header = true; }, nullptr,
     "the format version says how a blob was written, not what it holds: a snapshot an older "
     "khod froze verifies against a current capture; compared only under "
     "DiffOptions::compare_header"},
    {kRestore, "gmems[].inode", Expect::kOptIn, nullptr,
     [](DiffOptions* o) { o->compare_inodes = true; }, nullptr,
     "st_ino is per boot, and new for a rebuilt file: Restore's verify clears "
     "DiffOptions::compare_inodes"},
    {kVerifyCmd, "gmems[].mapping_policies[].pid", Expect::kNotState, nullptr, nullptr, nullptr,
     "which process mapped the range is informational: a VMM that maps again is another "
     "process; the range and its policy are compared"},
    {kVerifyCmd, "gmems[].mapping_policies[].start_address", Expect::kNotState, nullptr, nullptr,
     nullptr,
     "where the VMM mapped the range is informational: a VMM that maps again gets a new "
     "address; the range and its policy are compared"},
    {kRestore, "gmems[].mapping_policies*", Expect::kNamed, "handed to the VMM", nullptr, nullptr,
     "after a restore the VMM's mapping policies are the VMM's to apply to its new mappings "
     "(DiffOptions::compare_vmm_policies cleared): named not verified"},
    {kBoth, "gmems[].folio_extents*", Expect::kNamed, " pages: ", nullptr,
     OnlyUnobservedPagesDiffer,
     "a page either capture did not observe in full is compared only as far as both observed "
     "it (verify/snapshot_diff.h): its pages are named not verified"},
    {kBoth, "gmems[].visibility*", Expect::kNamed, " pages: ", nullptr, OnlyUnobservedPagesDiffer,
     "how a page was observed is not the guest's state: the verdict takes the worse of the two "
     "captures, and names those pages not verified"},
    {kBoth, "gmems[].visibility*", Expect::kNotState, nullptr, nullptr, SamePagesSeenTheSame,
     "an empty visibility list is one kFull range over the file (state/snapshot.h): the same "
     "observation, written shorter"},
    {kRestore, "gmems[].flags*", Expect::kNamed, "creation flag bits", nullptr, UnseenGmemFlagBit,
     "creation flags are compared on the bits both captures saw; a bit either did not see is "
     "named not verified"},
    {kVerifyCmd, "gmems[].flags*", Expect::kNotState, nullptr, nullptr, UnseenGmemFlagBitOfOneFile,
     "creation flags are compared on the bits both captures saw; of one file (the same inode) "
     "they cannot change, so a bit one capture did not see is the other's or the VMM's "
     "declaration"},
    {kBoth, "gmems[].flags*", Expect::kNotState, nullptr, nullptr, OnlyUndefinedFlagBitsDiffer,
     "a bit no guest_memfd creation flag defines, unseen by a capture, says nothing of the "
     "file"},
    {kBoth, "gmems[].flags_unknown", Expect::kNotState, nullptr, nullptr, MemfdFlagsKnown,
     "a memfd has no guest_memfd creation flags to see"},
    {kRestore, "gmems[].policy_source", Expect::kNotState, nullptr, nullptr,
     PolicySourceWithNothingToHandOver,
     "after a restore a policy read from the VMM's mappings is the VMM's to apply again "
     "(DiffOptions::compare_vmm_policies cleared), and what khod reads of its own mapping is "
     "not the guest's policy; with no mapping policy there is nothing to hand over or name"},
};

bool Matches(const char* pattern, const std::string& path) {
  const std::string p = pattern, q = Pattern(path);
  if (!p.empty() && p.back() == '*') return q.compare(0, p.size() - 1, p, 0, p.size() - 1) == 0;
  return p == q;
}

struct Tally {
  int refused = 0, different = 0, unverified = 0, allowed = 0;
  std::string first_refusal;
};

TEST(DiffCoverageTest, RichSnapshotSetsEveryField) {
  const Snapshot rich = RichSnapshot();
  ASSERT_TRUE(InvariantsStatus(rich).ok()) << InvariantsStatus(rich).ToString();
  std::set<const FieldDescriptor*> set;
  MarkSet(Payload(rich), &set);
  for (const FieldDescriptor* f : AllFields())
    EXPECT_TRUE(set.count(f)) << f->full_name()
                              << " keeps its default everywhere in RichSnapshot(): set it, so "
                                 "that its mutations are of a real value";
}

// The FDT form carries the same snapshot as the proto form, field for field.
TEST(DiffCoverageTest, FdtRoundTripIsTheProtoRoundTrip) {
  const Snapshot rich = RichSnapshot();
  std::string proto, fdt;
  ASSERT_TRUE(EncodeProto(rich, &proto).ok());
  ASSERT_TRUE(EncodeFdt(rich, &fdt).ok());
  Snapshot from_proto, from_fdt;
  ASSERT_TRUE(DecodeProto(proto, &from_proto).ok());
  ASSERT_TRUE(DecodeFdt(fdt, &from_fdt).ok());
  EXPECT_TRUE(from_proto == rich);
  EXPECT_TRUE(from_fdt == from_proto);
  EXPECT_TRUE(Payload(from_fdt).SerializeAsString() == Payload(from_proto).SerializeAsString());
}

TEST(DiffCoverageTest, EveryFieldIsRefusedComparedOrAllowed) {
  const Snapshot rich = RichSnapshot();
  const pb::Snapshot original = Payload(rich);
  {
    Snapshot again;
    ASSERT_TRUE(DecodeProto(Framed(original), &again).ok());
    ASSERT_TRUE(again == rich);
  }
  std::vector<Mutation> mutations;
  Walker(&mutations).Walk(original, {}, "", -1);
  AddFrameMutations(&mutations);

  std::vector<SnapshotDiff> baseline;
  for (const Profile& p : kProfiles) baseline.push_back(p.run(rich, rich));
  std::map<const FieldDescriptor*, Tally> per_field;
  std::map<std::string, Tally> per_pattern;
  std::vector<int> uses(std::size(kAllowances), 0);

  for (const Mutation& m : mutations) {
    const std::string where = m.path + " (" + m.what + ")";
    Tally& field = per_field[m.field];
    Tally& pattern = per_pattern[Pattern(m.path)];
    pb::Snapshot edited = original;
    m.apply(&edited);
    Snapshot mutated;
    const Status st = DecodeProto(Framed(edited, m.major, m.minor), &mutated);
    if (!st.ok()) {
      EXPECT_TRUE(st.code() == Status::Code::kCorruption || st.code() == Status::Code::kUnsupported)
          << where << ": refused without a clear error: " << st.ToString();
      ++field.refused;
      ++pattern.refused;
      if (pattern.first_refusal.empty()) pattern.first_refusal = st.ToString();
      continue;
    }
    // The FDT form carries what the proto form does (each encoder writes
    // its own format version).
    std::string fdt;
    Snapshot via_fdt;
    ASSERT_TRUE(EncodeFdt(mutated, &fdt).ok()) << where;
    ASSERT_TRUE(DecodeFdt(fdt, &via_fdt).ok()) << where;
    Snapshot as_written = mutated;
    as_written.header.format_major = kFormatMajor;
    as_written.header.format_minor = kFormatMinor;
    EXPECT_TRUE(via_fdt == as_written) << where << ": the FDT form loses it";
    EXPECT_TRUE(Payload(via_fdt).SerializeAsString() == Payload(mutated).SerializeAsString())
        << where << ": the FDT form loses it";

    const GuestMemfd* before = m.gmem >= 0 ? &rich.gmems[m.gmem] : nullptr;
    const GuestMemfd* after = m.gmem >= 0 && static_cast<size_t>(m.gmem) < mutated.gmems.size()
                                  ? &mutated.gmems[m.gmem]
                                  : nullptr;
    for (size_t pi = 0; pi < std::size(kProfiles); ++pi) {
      const Profile& profile = kProfiles[pi];
      for (bool forward : {true, false}) {
        const Snapshot& expected = forward ? rich : mutated;
        const Snapshot& found = forward ? mutated : rich;
        const SnapshotDiff d = profile.run(expected, found);
        if (!d.differences.empty()) {
          ++field.different;
          ++pattern.different;
          continue;
        }
        if (!SameVerdict(d, baseline[pi])) {
          ++field.unverified;
          ++pattern.unverified;
          continue;
        }
        const std::string context =
            std::string(profile.name) + (forward ? "" : ", reversed") + ": " + where;
        size_t ai = 0;
        for (; ai < std::size(kAllowances); ++ai) {
          const Allowance& a = kAllowances[ai];
          if ((a.profiles & profile.bit) && Matches(a.pattern, m.path) &&
              (!a.applies || (before && after && a.applies(*before, *after))))
            break;
        }
        if (ai == std::size(kAllowances)) {
          ADD_FAILURE() << context << " leaves the verdict as it was"
                        << (mutated == rich ? " (it decodes to the same snapshot: serializer/ "
                                              "drops it)"
                                            : "")
                        << ": compare it in verify/snapshot_diff.cc, name it not verified, or "
                           "allow it in kAllowances with the reason";
          continue;
        }
        const Allowance& a = kAllowances[ai];
        ++uses[ai];
        ++field.allowed;
        ++pattern.allowed;
        if (a.expect == Expect::kOptIn) {
          DiffOptions o;
          a.opt_in(&o);
          EXPECT_FALSE(DiffSnapshots(expected, found, o).differences.empty())
              << context << ": allowed as compared under an option, but is not";
        } else if (a.expect == Expect::kNamed) {
          const uint64_t token = (forward ? before : after) ? (forward ? before : after)->token : 0;
          bool named = false;
          for (const UnverifiedGmem& u : d.unverified)
            if (u.token == token && u.ToString().find(a.named) != std::string::npos) named = true;
          EXPECT_TRUE(named) << context << ": allowed as named not verified (\"" << a.named
                             << "\"), but the verdict does not name it";
        }
      }
    }
  }

  // Every field of the format was mutated; the allowances are all in use.
  for (const FieldDescriptor* f : AllFields()) {
    const Tally& t = per_field[f];
    EXPECT_GT(t.refused + t.different + t.unverified + t.allowed, 0)
        << f->full_name() << " was never mutated: RichSnapshot() holds none of it";
  }
  for (size_t ai = 0; ai < std::size(kAllowances); ++ai)
    EXPECT_GT(uses[ai], 0) << "kAllowances entry '" << kAllowances[ai].pattern
                           << "' allows nothing any more: remove it";

  // What each field path came to (each accepted mutation counts once per
  // verdict and direction): the record of outcome (a), refusals, included.
  std::cout << "mutations: " << mutations.size() << "\n";
  for (const auto& [path, t] : per_pattern) {
    std::cout << path << ": refused " << t.refused << ", different " << t.different
              << ", not-verified changed " << t.unverified << ", allowed " << t.allowed;
    if (t.refused && !t.different && !t.unverified && !t.allowed)
      std::cout << " [refused only: " << t.first_refusal << "]";
    std::cout << "\n";
  }
  for (size_t ai = 0; ai < std::size(kAllowances); ++ai)
    std::cout << "allowance '" << kAllowances[ai].pattern << "' (" << kAllowances[ai].reason
              << "): " << uses[ai] << " verdicts\n";
}

}  // namespace
}  // namespace khod
