// An AttachRequest from what a VMM declares (proto/vmm_declaration.proto):
// the one place that turns a declaration into the request khod takes, for
// `khoctl attach --memslots FILE` and the rehearsal.
#ifndef KHOD_KHOCTL_ATTACH_DECLARATION_H_
#define KHOD_KHOCTL_ATTACH_DECLARATION_H_

#include "common/status.h"
#include "proto/khod.pb.h"
#include "proto/vmm_declaration.pb.h"

namespace khod {

// Adds to `q` what `decl` says about the VMM's fd `fd`: its name and creation
// flags, the VM its memslots are on with those memslots, its attributes.
// InvalidArgument when its memslots are in two VMs.
Status AddDeclarationTo(const v1::VmmDeclaration& decl, int fd, v1::AttachRequest* q);

}  // namespace khod

#endif  // KHOD_KHOCTL_ATTACH_DECLARATION_H_
