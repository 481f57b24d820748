// What the VMM declares about its guest_memfds because the kernel cannot be
// asked (memslots, per-page attributes, creation flags): v1::VmmDeclaration,
// whose schema and JSON form proto/vmm_declaration.proto documents field by
// field. This is its reader (protobuf's JsonStringToMessage, plus what
// protobuf cannot say: required fields, fd numbers, "0x..." addresses, an fd
// declared twice, ranges that wrap), the checks against the captured files,
// and the views capture takes of it (one file's flags, attributes, memslots).
#ifndef KHOD_CAPTURE_VMM_DECLARATION_H_
#define KHOD_CAPTURE_VMM_DECLARATION_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "common/status.h"
#include "proto/vmm_declaration.pb.h"
#include "state/snapshot.h"

namespace khod {

// A declaration file is at most this large: a million attribute ranges is tens of MiB.
constexpr uint64_t kMaxDeclarationBytes = 256u << 20;

// Parses one JSON document and appends what it declares to `decl`; on an
// error (InvalidArgument naming the field and what is wrong) `decl` is left
// as it was. Absent optional fields are filled in with their documented
// defaults (a VM's token, a memslot's flags), so readers see them set.
Status ParseVmmDeclaration(std::string_view json, v1::VmmDeclaration* decl);
// The same from a file the operator named: a regular file of at most
// kMaxDeclarationBytes (a FIFO, a directory or /dev/zero is refused unread).
Status LoadVmmDeclaration(const std::string& path, v1::VmmDeclaration* decl);

// The declared file with VMM fd `fd`, or nullptr.
const v1::DeclaredFile* FindDeclaredFile(const v1::VmmDeclaration& decl, int fd);
// The attributes declared for fd `fd`, later ranges over earlier ones.
AttributeMap DeclaredAttributesOf(const v1::VmmDeclaration& decl, int fd);
// A declared memslot as the snapshot holds it (gmem_token left 0: the
// snapshot's assembly names the guest_memfd). Takes a memslot the reader
// accepted: an address that does not parse reads as 0.
Memslot MemslotOf(const v1::DeclaredMemslot& m);
// The declaration of snapshot memslot `m`, whose guest_memfd is VMM fd `gmem_fd`.
v1::DeclaredMemslot DeclaredMemslotOf(const Memslot& m, int gmem_fd);

// The facts about one captured file that a declaration is checked against.
struct CapturedFileFacts {
  uint64_t size = 0;
  uint64_t page_size = 4096;  // HugeTLB: the huge page size
};

// Checks memslots and attributes against the captured files: every gmem_fd
// captured, slot ids unique, npages > 0, gmem_offset aligned to the file's
// page size, [offset, offset + npages pages) inside the file, no two slots
// overlapping in one file, no gfn overlap within an address space,
// attributes inside the file. Returns every problem in one InvalidArgument.
Status ValidateVmmDeclaration(const v1::VmmDeclaration& decl,
                              const std::map<int, CapturedFileFacts>& files, uint32_t page_size);

}  // namespace khod

#endif  // KHOD_CAPTURE_VMM_DECLARATION_H_
