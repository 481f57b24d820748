#include "tests/daemon/golden_session_record.h"

namespace khod {
namespace {

v1::Memslot Slot(uint32_t slot, uint32_t flags, uint64_t base_gfn, uint64_t npages,
                 uint64_t userspace_addr, uint64_t gmem_offset) {
  v1::Memslot m;
  m.set_slot(slot);
  m.set_flags(flags);
  m.set_base_gfn(base_gfn);
  m.set_npages(npages);
  m.set_userspace_addr(userspace_addr);
  m.set_gmem_offset(gmem_offset);
  return m;
}

void AddRange(v1::GmemAttachment* g, uint64_t first, uint64_t count, uint64_t value) {
  v1::AttributeRange* r = g->add_attributes();
  r->set_first(first);
  r->set_count(count);
  r->set_value(value);
}

}  // namespace

v1::SessionRecord GoldenSessionRecord() {
  constexpr uint32_t kMemGuestMemfd = 1u << 2;  // KVM_MEM_GUEST_MEMFD
  constexpr uint64_t kPrivate = 8;              // KVM_MEMORY_ATTRIBUTE_PRIVATE
  v1::SessionRecord r;
  r.set_session_id(0x5eed0123456789abull);
  r.set_generation(42);
  r.set_phase(v1::FROZEN);

  // Each gmem's kind is spelled as khod writes it: FileKindName (state/snapshot.cc)
  // for a kernel file, "model" for a MODEL guest (daemon/session_attach.cc).

  // A kernel guest_memfd of VM 0x10, partly private, contents hashed.
  v1::GmemAttachment* ram = r.add_gmems();
  ram->set_token(0x2a);
  ram->set_name("vm0-ram");
  ram->set_pid(4242);
  ram->set_fd(17);
  ram->set_inode(123456);
  ram->set_kind("guest_memfd");
  ram->set_vm_token(0x10);
  AddRange(ram, 512, 256, kPrivate);
  AddRange(ram, 900, 10, kPrivate | 0x10);
  ram->set_hash_contents(true);
  ram->set_gmem_flags(3);  // MMAP | INIT_SHARED

  // A HugeTLB memfd stand-in of the same VM.
  v1::GmemAttachment* huge = r.add_gmems();
  huge->set_token(0x2b);
  huge->set_name("vm0-huge");
  huge->set_pid(4242);
  huge->set_fd(18);
  huge->set_inode(123457);
  huge->set_kind("hugetlb-memfd");
  huge->set_vm_token(0x10);

  // A MODEL guest_memfd of 1 TiB of 1 GiB folios, bound to VM 0x20.
  v1::GmemAttachment* model = r.add_gmems();
  model->set_token(0x30);
  model->set_name("model-1t");
  model->set_is_model(true);
  model->set_kind("model");
  model->mutable_model()->set_size(uint64_t{1} << 40);
  model->mutable_model()->set_hstate_order(18);
  model->mutable_model()->set_populate(true);
  model->set_vm_token(0x20);
  AddRange(model, 0, 262144, kPrivate);

  // A shmem memfd not bound to a VM, as received by a re-executed khod.
  v1::GmemAttachment* shm = r.add_gmems();
  shm->set_token(0x31);
  shm->set_name("scratch");
  shm->set_pid(5151);
  shm->set_fd(9);
  shm->set_inode(777);
  shm->set_kind("shmem-memfd");
  shm->set_handover_fd(12);

  v1::VmRecord* vm0 = r.add_vms();
  vm0->set_token(0x10);
  vm0->set_vm_type(0);
  *vm0->add_memslots() = Slot(0, kMemGuestMemfd, 0, 512, 0x7f0000000000ull, 0);
  vm0->add_memslot_gmem(0x2a);
  *vm0->add_memslots() = Slot((1u << 16) | 1, kMemGuestMemfd, 0x100000, 256, 0, 512 * 4096);
  vm0->add_memslot_gmem(0x2a);
  *vm0->add_memslots() = Slot(2, kMemGuestMemfd, 0x200000, 1024, 0x7f4000000000ull, 0);
  vm0->add_memslot_gmem(0x2b);

  v1::VmRecord* vm1 = r.add_vms();
  vm1->set_token(0x20);
  vm1->set_vm_type(1);  // KVM_X86_SW_PROTECTED_VM
  *vm1->add_memslots() = Slot(0, kMemGuestMemfd, 0, uint64_t{1} << 28, 0, 0);
  vm1->add_memslot_gmem(0x30);

  r.set_transport(v1::REEXEC);
  r.set_format(v1::FDT);
  r.set_prepared_blob("prepared-40.blob");
  r.set_frozen_blob("frozen-42.blob");
  r.set_frozen_blob_bytes(251904);
  r.set_frozen_blob_xxh3(0x0123456789abcdefull);
  r.set_prepared_blob_bytes(72113);
  v1::PhaseDuration* d = r.add_durations();
  d->set_phase(v1::PREPARED);
  d->set_nanos(12345678);
  d = r.add_durations();
  d->set_phase(v1::FROZEN);
  d->set_nanos(2700000);
  r.set_exec_count(3);
  r.set_handover_dir("/mnt/pmem/khod");
  r.set_next_token(0x32);
  r.set_last_verdict("equal: 131072 PFNs and 64 content hashes unchanged");
  return r;
}

}  // namespace khod
