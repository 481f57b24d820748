#include "tests/serializer/golden_snapshot.h"

namespace khod {

Snapshot GoldenSnapshot() {
  Snapshot s;
  s.header.format_minor = 0;
  s.header.producer = "khod 0.1.0";
  s.header.kernel_release = "6.18.0-khod";
  s.header.boot_id = "0b3c6a52-8f0e-4a59-9d7c-3f1e2d4c5b6a";
  s.header.capture_time_ns = 1767225600123456789ull;
  s.header.page_size = 4096;

  Vm vm;
  vm.token = 0x10;
  vm.vm_type = 0;
  vm.memslots = {
      {0, 1u << 2, 0, 512, 0x7f0000000000ull, 0x2a, 0},
      {(1u << 16) | 1, 1u << 2, 0x100000, 256, 0, 0x2b, 0},
  };
  s.vms.push_back(vm);

  GuestMemfd ram;  // buddy-backed, the common case
  ram.token = 0x2a;
  ram.inode = 123456;
  ram.name = "vm0-ram";
  ram.provenance = Provenance::kKernel;
  ram.kind = FileKind::kGuestMemfd;
  ram.size = 1024 * 4096;
  ram.flags = 3;  // MMAP | INIT_SHARED
  ram.vm_token = 0x10;
  // The blob holds flags_known absent (all ones) and an inode policy,
  // MPOL_INTERLEAVE on node 0. As today's reader decodes it (older_minors.h):
  // no flag bit shown by the kernel (flags 3 a declaration), and the policy
  // unknown (a 1.0 producer read one page's, never the file's whole policy).
  ram.flags_known = 0;
  ram.policy_source = PolicySource::kUnknown;
  ram.policy = Mempolicy();
  ram.folios = {
      {0, 0x1000, 214, 0, kFolioUptodate | kFolioDirty},
      {214, 0x5000, 10, 0, kFolioUptodate},
      {300, kPfnUnknown, 1, 0, 0},
      {1000, 0x9999, 24, 0, kFolioUptodate | kFolioHwpoison},
  };
  ram.attributes.Set(100, 100, kAttrPrivate);
  ram.attributes.Set(500, 12, kAttrPrivate);
  ram.attributes.Set(900, 10, kAttrPrivate | 0x10);
  ram.hashes = {{0, 214, 0x0123456789abcdefull}, {300, 1, 0xfedcba9876543210ull}};
  s.gmems.push_back(ram);

  GuestMemfd huge;  // HugeTLB 2 MiB, one huge folio split (restructured)
  huge.token = 0x2b;
  huge.inode = 654321;
  huge.name = "vm0-huge";
  huge.provenance = Provenance::kModel;
  huge.kind = FileKind::kGuestMemfd;
  huge.size = 2048 * 4096;
  huge.flags = 1;
  huge.backing = Backing::kHugetlb;
  huge.hstate_order = 9;
  huge.vm_token = 0x10;
  huge.policy = Mempolicy{2, 1u << 15, {0x3, 0x1}, 1};
  huge.folios = {
      {0, 0x40000, 1, 9, kFolioUptodate},
      {512, 0x40400, 256, 0, kFolioUptodate | kFolioDirty},
      {768, 0x40500, 32, 3, kFolioUptodate},
      {1536, 0x80000, 1, 9, 0},
  };
  RestructureRecord r;
  r.index = 512;
  r.head_pfn = 0x40400;
  r.original_order = 9;
  r.memcg_id = 7;
  r.in_progress = true;
  r.layout = {{0, 256, 0}, {256, 32, 3}};
  huge.restructures.push_back(r);
  huge.attributes.Set(512, 256, kAttrPrivate);
  huge.attributes.Set(1536, 512, kAttrPrivate);
  s.gmems.push_back(huge);

  GuestMemfd empty;  // unbound, nothing allocated
  empty.token = 0x2c;
  empty.name = "";
  empty.provenance = Provenance::kSynthetic;
  empty.kind = FileKind::kShmemMemfd;
  s.gmems.push_back(empty);
  return s;
}

Snapshot GoldenSnapshotV1_1() {
  Snapshot s = GoldenSnapshot();
  s.header.format_minor = 1;
  GuestMemfd& ram = s.gmems[0];  // 6.18 guest_memfd: the policy is the VMM mapping's
  ram.flags_known = 3;
  ram.policy_source = PolicySource::kVmmMappings;
  ram.policy = Mempolicy();
  MappingPolicy whole;
  whole.first_index = 0;
  whole.count = 1024;
  whole.pid = 4242;
  whole.start_address = 0x7f118de1e000ull;
  whole.policy = Mempolicy{3, 0, {1}, -1};  // interleave:0
  MappingPolicy part;
  part.first_index = 512;
  part.count = 256;
  part.pid = 4242;
  part.start_address = 0x7f1190000000ull;
  part.policy = Mempolicy{2, 1u << 15, {0x1, 0x1}, -1};  // bind=static:0,64
  // As today's reader decodes it: a 1.1 capture never saw a home node (older_minors.h).
  part.policy.home_node_seen = false;
  ram.mapping_policies = {whole, part};
  // Pages declared private are seen initialized-only: PFN unknown, no hash there.
  ram.visibility = {{0, 100, PageVisibility::kFull},
                    {100, 100, PageVisibility::kInitializedOnly},
                    {200, 824, PageVisibility::kFull}};
  ram.hashes = {{0, 100, 0x0123456789abcdefull}, {300, 1, 0xfedcba9876543210ull}};
  FolioList::Extents& ram_folios = ram.folios.Mutable();
  ram_folios[0] = {0, 0x1000, 100, 0, kFolioUptodate | kFolioDirty};
  ram_folios.insert(ram_folios.begin() + 1, {100, kPfnUnknown, 100, 0, 0});
  ram_folios.insert(ram_folios.begin() + 2,
                    {200, 0x1000 + 200, 14, 0, kFolioUptodate | kFolioDirty});

  GuestMemfd priv;  // MMAP without INIT_SHARED seen: which pages are initialized only
  priv.token = 0x2d;
  priv.inode = 777;
  priv.name = "vm0-private";
  priv.kind = FileKind::kGuestMemfd;
  priv.size = 256 * 4096;
  priv.flags = 1;
  priv.flags_known = 1;
  priv.vm_token = 0x10;
  priv.policy_source = PolicySource::kUnknown;
  priv.visibility = {{0, 256, PageVisibility::kInitializedOnly}};
  priv.folios = {{0, kPfnUnknown, 16, 0, 0}, {64, kPfnUnknown, 8, 0, 0}};
  s.gmems.push_back(priv);

  GuestMemfd secret;  // flags 0 (or 2): nothing per page observable
  secret.token = 0x2e;
  secret.inode = 778;
  secret.name = "vm0-secret";
  secret.kind = FileKind::kGuestMemfd;
  secret.size = 512 * 4096;
  secret.flags = 2;                                   // INIT_SHARED as the VMM declared it,
  secret.flags_known = 1;                             // MMAP=0 as the kernel showed it
  secret.policy_source = PolicySource::kVmmMappings;  // no mapping: none
  secret.visibility = {{0, 512, PageVisibility::kNone}};
  s.gmems.push_back(secret);
  return s;
}

Snapshot GoldenSnapshotV1_2() {
  Snapshot s = GoldenSnapshotV1_1();
  s.header.format_minor = 2;
  GuestMemfd& ram = s.gmems[0];
  ram.mapping_policies[1].policy.home_node = 0;  // seen by the BPF VMA reader
  ram.mapping_policies[1].policy.home_node_seen = true;
  MappingPolicy tail = ram.mapping_policies[1];  // read from numa_maps: home node not seen
  tail.first_index = 900;
  tail.count = 124;
  tail.start_address = 0x7f1190100000ull;
  tail.policy = Mempolicy{2, 0, {0x1}, -1};
  tail.policy.home_node_seen = false;
  ram.mapping_policies.push_back(tail);

  // A memfd's shared policy, read with get_mempolicy at one page: the blob
  // holds an inode policy, bind node 0, home node not seen. As today's reader
  // decodes it (older_minors.h): unknown, the policy the default.
  GuestMemfd shmem;
  shmem.token = 0x2f;
  shmem.inode = 779;
  shmem.name = "vm0-shmem";
  shmem.kind = FileKind::kShmemMemfd;
  shmem.size = 64 * 4096;
  shmem.policy_source = PolicySource::kUnknown;
  shmem.visibility = {{0, 64, PageVisibility::kFull}};
  shmem.folios = {{0, 0x3000, 64, 0, kFolioUptodate}};
  s.gmems.push_back(shmem);
  return s;
}

Snapshot GoldenSnapshotV1_3() {
  Snapshot s = GoldenSnapshotV1_2();
  s.header.format_minor = 3;
  // The shmem memfd's whole shared policy, read from the inode's tree by the
  // BPF reader: one policy of every page, its home node seen.
  GuestMemfd& shmem = s.gmems[5];
  shmem.policy_source = PolicySource::kInode;
  shmem.policy = Mempolicy{2, 0, {0x1}, 0};

  GuestMemfd huge;  // a HugeTLB memfd keeps no shared policy: each mapping's own
  huge.token = 0x30;
  huge.inode = 780;
  huge.name = "vm0-hugetlb";
  huge.kind = FileKind::kHugetlbMemfd;
  huge.size = 512 * 4096;
  huge.backing = Backing::kHugetlb;
  huge.hstate_order = 9;
  huge.policy_source = PolicySource::kVmmMappings;
  huge.mapping_policies = {
      MappingPolicy{0, 512, 4242, 0x7f1200000000ull, Mempolicy{2, 0, {0x1}, -1}}};
  huge.visibility = {{0, 512, PageVisibility::kFull}};
  huge.folios = {{0, 0x60000, 1, 9, kFolioUptodate}};
  s.gmems.push_back(huge);
  return s;
}

}  // namespace khod
