// The snapshot state model: everything khod preserves about guest_memfds and
// the VMs bound to them, as plain C++ types. Capture fills it (from the kernel
// or from the model), the serializers turn it into FDT or protobuf blobs, the
// restore side rebuilds it and verify compares two of them.
//
// Units: "index" and "count" fields are in PAGE_SIZE pages (header.page_size),
// offsets and sizes in bytes. A PFN is a page frame number.
#ifndef KHOD_STATE_SNAPSHOT_H_
#define KHOD_STATE_SNAPSHOT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "common/hex.h"           // Hex(): how snapshot values are shown
#include "kernel/memory_facts.h"  // FileKind, Mempolicy: what the kernel says of a file
#include "state/attribute_map.h"
#include "state/folio_list.h"  // FolioExtent, FolioList, kPfnUnknown

namespace khod {

// Where a guest_memfd's state came from. Shown wherever state is shown, so a
// model is never mistaken for the kernel.
enum class Provenance : uint8_t {
  kKernel = 0,     // captured from the running kernel
  kModel = 1,      // captured from khod's model of in-flight kernel features
  kSynthetic = 2,  // generated (khoctl synth, tests, benchmarks)
};

// Source of folios.
enum class Backing : uint8_t {
  kBuddy = 0,    // PAGE_SIZE folios from the buddy allocator
  kHugetlb = 1,  // HugeTLB folios of hstate order `hstate_order`
};

// Folio flags kept per extent (a subset of /proc/kpageflags).
enum FolioFlag : uint8_t {
  kFolioUptodate = 1u << 0,
  kFolioDirty = 1u << 1,
  kFolioHwpoison = 1u << 2,
};

// Content checksum (XXH3-64) of pages [first_index, first_index + count).
struct ContentHash {
  uint64_t first_index = 0;
  uint64_t count = 0;
  uint64_t xxh3 = 0;
  bool operator==(const ContentHash& o) const {
    return first_index == o.first_index && count == o.count && xxh3 == o.xxh3;
  }
};

// One run of equal sub-folios inside a split huge folio: `count` folios of
// 2^order pages starting `offset` pages into the original huge folio.
struct SplitRun {
  uint32_t offset = 0;
  uint32_t count = 0;
  uint8_t order = 0;
  bool operator==(const SplitRun& o) const {
    return offset == o.offset && count == o.count && order == o.order;
  }
};

// HugeTLB restructuring metadata for one original huge folio (seed: "Split +
// merge = folio restructuring"). It outlives the fd: the kernel needs it to
// merge the pieces back before the folio returns to HugeTLB.
struct RestructureRecord {
  uint64_t index = 0;  // first page of the original huge folio in the file
  uint64_t head_pfn = kPfnUnknown;
  uint8_t original_order = 0;  // hstate order: 9 (2 MiB) or 18 (1 GiB)
  uint64_t memcg_id = 0;
  bool in_progress = false;      // a split or merge was under way at capture
  std::vector<SplitRun> layout;  // current split layout, ordered by offset, covering the folio
  bool operator==(const RestructureRecord& o) const {
    return index == o.index && head_pfn == o.head_pfn && original_order == o.original_order &&
           memcg_id == o.memcg_id && in_progress == o.in_progress && layout == o.layout;
  }
};

// One KVM memslot (struct kvm_userspace_memory_region2) bound to a guest_memfd.
struct Memslot {
  uint32_t slot = 0;   // low 16 bits: slot id, high 16: address space
  uint32_t flags = 0;  // KVM_MEM_GUEST_MEMFD = 1 << 2, ...
  uint64_t base_gfn = 0;
  uint64_t npages = 0;
  uint64_t userspace_addr = 0;
  uint64_t gmem_token = 0;   // which guest_memfd (GuestMemfd::token)
  uint64_t gmem_offset = 0;  // bytes into the guest_memfd
  uint16_t address_space() const { return static_cast<uint16_t>(slot >> 16); }
  bool operator==(const Memslot& o) const {
    return slot == o.slot && flags == o.flags && base_gfn == o.base_gfn && npages == o.npages &&
           userspace_addr == o.userspace_addr && gmem_token == o.gmem_token &&
           gmem_offset == o.gmem_offset;
  }
};

struct Vm {
  uint64_t token = 0;    // stable across the handover
  uint32_t vm_type = 0;  // KVM_CREATE_VM type
  std::vector<Memslot> memslots;
  bool operator==(const Vm& o) const {
    return token == o.token && vm_type == o.vm_type && memslots == o.memslots;
  }
};

// How much of a page range's guest state the capturing host could observe.
// A guest_memfd's guest state is its *initialized* (uptodate) folios: their
// index, PFN and contents. Outside the extents of a range, a page is "seen not
// initialized" only where the range's visibility lets a capture see it; it is
// never "absent" because nobody looked.
enum class PageVisibility : uint8_t {
  // Which pages are initialized, their PFNs and flags where pagemap shows
  // them (not without CAP_SYS_ADMIN: verify names such pages not verified)
  // and (when hashed) contents: shmem and HugeTLB memfds, guest_memfd
  // created MMAP|INIT_SHARED.
  kFull = 0,
  // Which pages are initialized (mincore on a PROT_NONE mapping), not their
  // PFNs or contents: guest_memfd created MMAP without INIT_SHARED. Extents
  // here have PFN unknown and no hashes.
  kInitializedOnly = 1,
  // Nothing per page: guest_memfd created without MMAP (flags 0 or 2). No
  // extent, hash or absence is ever recorded here.
  kNone = 2,
};

// Pages [first_index, first_index + count) were observed with `visibility`.
struct VisibilityRange {
  uint64_t first_index = 0;
  uint64_t count = 0;
  PageVisibility visibility = PageVisibility::kFull;
  uint64_t end_index() const { return first_index + count; }
  bool operator==(const VisibilityRange& o) const {
    return first_index == o.first_index && count == o.count && visibility == o.visibility;
  }
};

// Where a GuestMemfd's NUMA policy was read.
enum class PolicySource : uint8_t {
  kInode = 0,        // the file's shared policy (GuestMemfd::policy)
  kVmmMappings = 1,  // no shared policy (guest_memfd on Linux 6.18): per VMM
                     // mapping, from /proc/PID/numa_maps (mapping_policies)
  kUnknown = 2,      // neither could be read (not observed: never "default")
};

// The policy of one VMM mapping of pages [first_index, first_index + count)
// of the file. Only its holder's accesses follow it; it dies with the mapping.
struct MappingPolicy {
  uint64_t first_index = 0;
  uint64_t count = 0;
  int32_t pid = 0;             // the process that mapped it (informational)
  uint64_t start_address = 0;  // the mapping's start (informational)
  Mempolicy policy;
  uint64_t end_index() const { return first_index + count; }
  bool operator==(const MappingPolicy& o) const {
    return first_index == o.first_index && count == o.count && pid == o.pid &&
           start_address == o.start_address && policy == o.policy;
  }
};

struct GuestMemfd {
  uint64_t token = 0;  // stable across the handover (the LUO token)
  uint64_t inode = 0;  // st_ino on the capturing kernel (informational)
  std::string name;    // operator's label
  Provenance provenance = Provenance::kKernel;
  FileKind kind = FileKind::kGuestMemfd;
  uint64_t size = 0;   // bytes, multiple of page_size
  uint64_t flags = 0;  // GUEST_MEMFD_FLAG_MMAP = 1, GUEST_MEMFD_FLAG_INIT_SHARED = 2
  // Bits of `flags` whose value the kernel showed (or, for memfds, that do not
  // apply: all ones). A bit outside the mask is not known: flags 2 cannot be
  // told from 0, and INIT_SHARED is seen only from positive evidence.
  uint64_t flags_known = ~0ull;
  Backing backing = Backing::kBuddy;
  uint8_t hstate_order = 0;  // 0 for buddy; 9 or 18 for HugeTLB
  uint64_t vm_token = 0;     // 0: not bound to a VM
  PolicySource policy_source = PolicySource::kInode;
  Mempolicy policy;  // kInode only
  // kUnknown: why the capture that made this could not read the policy, when
  // it knows ("/proc/PID/maps is empty: ..."). The capturing process's note
  // for its own messages: never serialized, not compared (operator==).
  std::string policy_unread;
  std::vector<MappingPolicy>
      mapping_policies;  // kVmmMappings only; ordered by (first_index, pid, start_address)
  // Ordered, disjoint, covering [0, pages): how each range was observed.
  // Empty means one kFull range over the whole file (snapshots of format 1.0,
  // synthetic and MODEL files); a kernel capture always fills it.
  std::vector<VisibilityRange> visibility;
  FolioList folios;                             // ordered by first_index, disjoint
  AttributeMap attributes;                      // per-page attributes (private bit)
  std::vector<RestructureRecord> restructures;  // ordered by index
  std::vector<ContentHash> hashes;              // ordered by first_index, disjoint

  uint64_t pages(uint32_t page_size) const { return size / page_size; }
  bool operator==(const GuestMemfd& o) const;
};

struct SnapshotHeader {
  uint16_t format_major = 1;
  uint16_t format_minor = 3;   // the version this model is written as (serializer/format_version.h)
  std::string producer;        // "khod 0.1.0"
  std::string kernel_release;  // uname -r
  std::string boot_id;         // /proc/sys/kernel/random/boot_id
  uint64_t capture_time_ns = 0;  // CLOCK_REALTIME
  uint32_t page_size = 4096;
  bool operator==(const SnapshotHeader& o) const {
    return format_major == o.format_major && format_minor == o.format_minor &&
           producer == o.producer && kernel_release == o.kernel_release && boot_id == o.boot_id &&
           capture_time_ns == o.capture_time_ns && page_size == o.page_size;
  }
};

struct Snapshot {
  SnapshotHeader header;
  std::vector<Vm> vms;
  std::vector<GuestMemfd> gmems;
  bool operator==(const Snapshot& o) const {
    return header == o.header && vms == o.vms && gmems == o.gmems;
  }
  bool operator!=(const Snapshot& o) const { return !(*this == o); }
  const GuestMemfd* FindGmem(uint64_t token) const;
  const Vm* FindVm(uint64_t token) const;
};

// Whether `a` and `b` are equal but for their headers' capture times: what
// makes their blobs differ in that one field only. O(files) where their
// folio lists share arrays (FolioList::operator==).
bool EqualButCaptureTime(const Snapshot& a, const Snapshot& b);

const char* ProvenanceName(Provenance p);
const char* FileKindName(FileKind k);
const char* BackingName(Backing b);
const char* PageVisibilityName(PageVisibility v);
const char* PolicySourceName(PolicySource s);
// Pages of `g` whose guest state was not fully observed (visibility other than kFull).
uint64_t UnobservedPages(const GuestMemfd& g, uint32_t page_size);
// Whether every visibility range of `g` is kFull (an empty list is one kFull range).
bool ObservedInFull(const GuestMemfd& g);

}  // namespace khod

#endif  // KHOD_STATE_SNAPSHOT_H_
