#include "khoctl/attach_declaration.h"

#include <string>

#include "capture/vmm_declaration.h"

namespace khod {

Status AddDeclarationTo(const v1::VmmDeclaration& decl, int fd, v1::AttachRequest* q) {
  if (const v1::DeclaredFile* file = FindDeclaredFile(decl, fd)) {
    if (file->has_flags()) q->set_gmem_flags(file->flags());
    q->set_name(file->name());
  }
  for (const v1::DeclaredVm& vm : decl.vms()) {
    for (const v1::DeclaredMemslot& d : vm.memslots()) {
      if (d.gmem_fd() != fd) continue;
      if (q->vm_token() && q->vm_token() != vm.token())
        return Status::InvalidArgument("fd " + std::to_string(fd) + " has memslots in two VMs (" +
                                       std::to_string(q->vm_token()) + " and " +
                                       std::to_string(vm.token()) + ")");
      q->set_vm_token(vm.token());
      q->set_vm_type(vm.vm_type());
      const Memslot m = MemslotOf(d);
      v1::Memslot* s = q->add_memslots();
      s->set_slot(m.slot);
      s->set_flags(m.flags);
      s->set_base_gfn(m.base_gfn);
      s->set_npages(m.npages);
      s->set_userspace_addr(m.userspace_addr);
      s->set_gmem_offset(m.gmem_offset);
    }
  }
  for (const AttributeRange& r : DeclaredAttributesOf(decl, fd).Ranges()) {
    v1::AttributeRange* a = q->add_attributes();
    a->set_first(r.first);
    a->set_count(r.count);
    a->set_value(r.value);
  }
  return Status::Ok();
}

}  // namespace khod
