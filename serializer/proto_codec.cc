// EncodeProto / DecodeProto: Snapshot <-> khod.snapshot.v1.Snapshot in a
// KHODSNAP frame.
#include <string>

#include "common/status_macros.h"
#include "common/thread_shares.h"
#include "proto/snapshot.pb.h"
#include "serializer/encode_guard.h"
#include "serializer/format_version.h"
#include "serializer/frame.h"
#include "serializer/older_minors.h"
#include "serializer/recorded_checksum.h"
#include "serializer/serializer.h"
#include "serializer/varint_tables.h"
#include "state/invariants.h"

namespace khod {
namespace {

namespace pb = ::khod::snapshot::v1;

void ToProto(const Memslot& s, pb::Memslot* m) {
  m->set_slot(s.slot);
  m->set_flags(s.flags);
  m->set_base_gfn(s.base_gfn);
  m->set_npages(s.npages);
  m->set_userspace_addr(s.userspace_addr);
  m->set_gmem_token(s.gmem_token);
  m->set_gmem_offset(s.gmem_offset);
}

void ToProto(const RestructureRecord& r, pb::RestructureRecord* m) {
  m->set_index(r.index);
  m->set_head_pfn(r.head_pfn);
  m->set_original_order(r.original_order);
  m->set_memcg_id(r.memcg_id);
  m->set_in_progress(r.in_progress);
  for (const SplitRun& run : r.layout) {
    pb::SplitRun* s = m->add_layout();
    s->set_offset(run.offset);
    s->set_count(run.count);
    s->set_order(run.order);
  }
}

void ToProto(const Mempolicy& policy, pb::Mempolicy* p) {
  p->set_mode(policy.mode);
  p->set_mode_flags(policy.mode_flags);
  for (uint64_t w : policy.nodemask) p->add_nodemask(w);
  p->set_home_node(policy.home_node);
  p->set_home_node_unseen(!policy.home_node_seen);
}

void FromProto(const pb::Mempolicy& p, Mempolicy* policy) {
  policy->mode = p.mode();
  policy->mode_flags = p.mode_flags();
  policy->nodemask.assign(p.nodemask().begin(), p.nodemask().end());
  policy->home_node = p.home_node();
  policy->home_node_seen = !p.home_node_unseen();
}

void ToProto(const GuestMemfd& g, pb::GuestMemfd* m) {
  m->set_token(g.token);
  m->set_inode(g.inode);
  m->set_name(g.name);
  m->set_provenance(static_cast<uint32_t>(g.provenance));
  m->set_kind(static_cast<uint32_t>(g.kind));
  m->set_size(g.size);
  m->set_flags(g.flags);
  m->set_backing(static_cast<uint32_t>(g.backing));
  m->set_hstate_order(g.hstate_order);
  m->set_vm_token(g.vm_token);
  ToProto(g.policy, m->mutable_policy());

  std::string stream;
  EncodeFolioStream(g.folios, &stream);
  m->set_nr_folio_extents(g.folios.size());
  m->set_folio_extents(std::move(stream));
  const std::vector<AttributeRange> ranges = g.attributes.Ranges();
  stream.clear();
  EncodeAttributeStream(ranges, &stream);
  m->set_nr_attribute_ranges(ranges.size());
  m->set_attribute_ranges(std::move(stream));
  stream.clear();
  EncodeHashStream(g.hashes, &stream);
  m->set_nr_content_hashes(g.hashes.size());
  m->set_content_hashes(std::move(stream));
  for (const RestructureRecord& r : g.restructures) ToProto(r, m->add_restructures());
  m->set_flags_unknown(~g.flags_known);
  m->set_policy_source(static_cast<uint32_t>(g.policy_source));
  for (const MappingPolicy& mp : g.mapping_policies) {
    pb::MappingPolicy* q = m->add_mapping_policies();
    q->set_first_index(mp.first_index);
    q->set_count(mp.count);
    q->set_pid(mp.pid);
    q->set_start_address(mp.start_address);
    ToProto(mp.policy, q->mutable_policy());
  }
  for (const VisibilityRange& r : g.visibility) {
    pb::VisibilityRange* q = m->add_visibility();
    q->set_first_index(r.first_index);
    q->set_count(r.count);
    q->set_visibility(static_cast<uint32_t>(r.visibility));
  }
}

// Narrows a uint32 proto field into a uint8 state field.
Status ToU8(uint32_t v, const std::string& what, uint8_t* out) {
  if (v > 0xff) return Status::Corruption(what + " " + std::to_string(v) + " exceeds 8 bits");
  *out = static_cast<uint8_t>(v);
  return Status::Ok();
}

template <typename Enum>
Status ToEnum(uint32_t v, uint32_t max, const std::string& what, Enum* out) {
  if (v > max)
    return Status::Unsupported(what + " " + std::to_string(v) + " unknown to this reader");
  *out = static_cast<Enum>(v);
  return Status::Ok();
}

Status FromProto(const pb::RestructureRecord& m, RestructureRecord* r) {
  r->index = m.index();
  r->head_pfn = m.head_pfn();
  KHOD_RETURN_IF_ERROR(ToU8(m.original_order(), "original order", &r->original_order));
  r->memcg_id = m.memcg_id();
  r->in_progress = m.in_progress();
  r->layout.resize(m.layout_size());
  for (int i = 0; i < m.layout_size(); ++i) {
    const pb::SplitRun& s = m.layout(i);
    r->layout[i].offset = s.offset();
    r->layout[i].count = s.count();
    KHOD_RETURN_IF_ERROR(ToU8(s.order(), "split run order", &r->layout[i].order));
  }
  return Status::Ok();
}

Status FromProto(const pb::GuestMemfd& m, GuestMemfd* g) {
  g->token = m.token();
  g->inode = m.inode();
  g->name = m.name();
  KHOD_RETURN_IF_ERROR(ToEnum(m.provenance(), 2, "provenance", &g->provenance));
  KHOD_RETURN_IF_ERROR(ToEnum(m.kind(), 2, "file kind", &g->kind));
  g->size = m.size();
  g->flags = m.flags();
  KHOD_RETURN_IF_ERROR(ToEnum(m.backing(), 1, "backing", &g->backing));
  KHOD_RETURN_IF_ERROR(ToU8(m.hstate_order(), "hstate order", &g->hstate_order));
  g->vm_token = m.vm_token();
  FromProto(m.policy(), &g->policy);
  KHOD_RETURN_IF_ERROR(DecodeFolioStream(m.folio_extents(), m.nr_folio_extents(), &g->folios));
  std::vector<AttributeRange> ranges;
  KHOD_RETURN_IF_ERROR(
      DecodeAttributeStream(m.attribute_ranges(), m.nr_attribute_ranges(), &ranges));
  g->attributes.Assign(ranges);
  KHOD_RETURN_IF_ERROR(DecodeHashStream(m.content_hashes(), m.nr_content_hashes(), &g->hashes));
  g->restructures.resize(m.restructures_size());
  for (int i = 0; i < m.restructures_size(); ++i)
    KHOD_RETURN_IF_ERROR(FromProto(m.restructures(i), &g->restructures[i])
                             .WithContext("restructures[" + std::to_string(i) + "]"));
  g->flags_known = ~m.flags_unknown();
  KHOD_RETURN_IF_ERROR(ToEnum(m.policy_source(), 2, "policy source", &g->policy_source));
  g->mapping_policies.resize(m.mapping_policies_size());
  for (int i = 0; i < m.mapping_policies_size(); ++i) {
    const pb::MappingPolicy& q = m.mapping_policies(i);
    MappingPolicy& mp = g->mapping_policies[i];
    mp.first_index = q.first_index();
    mp.count = q.count();
    mp.pid = q.pid();
    mp.start_address = q.start_address();
    FromProto(q.policy(), &mp.policy);
  }
  g->visibility.resize(m.visibility_size());
  for (int i = 0; i < m.visibility_size(); ++i) {
    const pb::VisibilityRange& q = m.visibility(i);
    g->visibility[i].first_index = q.first_index();
    g->visibility[i].count = q.count();
    KHOD_RETURN_IF_ERROR(ToEnum(q.visibility(), 2, "visibility[" + std::to_string(i) + "]",
                                &g->visibility[i].visibility));
  }
  return Status::Ok();
}

}  // namespace

Status EncodeProto(const Snapshot& snap, std::string* out) {
  KHOD_RETURN_IF_ERROR(RefuseInvalid(snap, "proto encode"));
  pb::Snapshot m;
  pb::Header* h = m.mutable_header();
  h->set_producer(snap.header.producer);
  h->set_kernel_release(snap.header.kernel_release);
  h->set_boot_id(snap.header.boot_id);
  h->set_capture_time_ns(snap.header.capture_time_ns);
  h->set_page_size(snap.header.page_size);
  for (const Vm& vm : snap.vms) {
    pb::Vm* v = m.add_vms();
    v->set_token(vm.token);
    v->set_vm_type(vm.vm_type);
    for (const Memslot& s : vm.memslots) ToProto(s, v->add_memslots());
  }
  for (const GuestMemfd& g : snap.gmems) ToProto(g, m.add_gmems());
  const size_t size = m.ByteSizeLong();
  if (size > static_cast<size_t>(INT32_MAX))
    return Status::InvalidArgument("proto encode: snapshot needs " + std::to_string(size) +
                                   " bytes, above protobuf's 2 GiB limit");
  out->resize(kFrameHeaderSize + size);
  uint8_t* frame = reinterpret_cast<uint8_t*>(&(*out)[0]);
  m.SerializeWithCachedSizesToArray(frame + kFrameHeaderSize);
  WriteFrameHeader(kFormatMajor, kFormatMinor,
                   std::string_view(out->data() + kFrameHeaderSize, size), frame);
  return Status::Ok();
}

namespace {

// The frame's payload checksum is computed when `payload_checksum`.
Status DecodeChecked(std::string_view blob, bool payload_checksum, Snapshot* out) {
  KHOD_ASSIGN_OR_RETURN(FrameInfo frame, ReadFrame(blob, kFormatMajor, payload_checksum));
  pb::Snapshot m;
  if (frame.payload.size() > INT32_MAX ||
      !m.ParseFromArray(frame.payload.data(), static_cast<int>(frame.payload.size())))
    return Status::Corruption("proto payload: not a valid khod.snapshot.v1.Snapshot message");
  Snapshot snap;
  snap.header.format_major = frame.major;
  snap.header.format_minor = frame.minor;
  snap.header.producer = m.header().producer();
  snap.header.kernel_release = m.header().kernel_release();
  snap.header.boot_id = m.header().boot_id();
  snap.header.capture_time_ns = m.header().capture_time_ns();
  snap.header.page_size = m.header().page_size();
  snap.vms.resize(m.vms_size());
  for (int i = 0; i < m.vms_size(); ++i) {
    const pb::Vm& v = m.vms(i);
    Vm& vm = snap.vms[i];
    vm.token = v.token();
    vm.vm_type = v.vm_type();
    vm.memslots.resize(v.memslots_size());
    for (int j = 0; j < v.memslots_size(); ++j) {
      const pb::Memslot& s = v.memslots(j);
      vm.memslots[j] = Memslot{s.slot(),           s.flags(),      s.base_gfn(),   s.npages(),
                               s.userspace_addr(), s.gmem_token(), s.gmem_offset()};
    }
  }
  snap.gmems.resize(m.gmems_size());
  for (int i = 0; i < m.gmems_size(); ++i)
    KHOD_RETURN_IF_ERROR(FromProto(m.gmems(i), &snap.gmems[i])
                             .WithContext("proto payload: gmems[" + std::to_string(i) + "]"));
  ApplyOlderMinorRules(&snap);
  KHOD_RETURN_IF_ERROR(InvariantsStatus(snap).WithContext("proto payload"));
  *out = std::move(snap);
  return Status::Ok();
}

}  // namespace

// The payload's varints are read on one thread: a recorded checksum is
// hashed beside it whenever this process may use more than one CPU.
Status DecodeProto(std::string_view blob, Snapshot* out, const CodecOptions& opts) {
  RecordedChecksum recorded(blob, opts.recorded_xxh3, ThreadsToUse(opts.threads) > 1);
  Snapshot snap;
  KHOD_RETURN_IF_ERROR(
      recorded.Check("proto frame", DecodeChecked(blob, !recorded.given(), &snap)));
  *out = std::move(snap);
  return Status::Ok();
}

}  // namespace khod
