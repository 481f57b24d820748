// What the VMM declares about its guest_memfds because the kernel cannot be
// asked: memslots (KVM has no "get memslots" ioctl) and
// per-page attributes (this kernel has no KVM_GET_MEMORY_ATTRIBUTES), and
// optionally creation flags (checked against what the kernel shows of them).
//
// One JSON document carries any of these keys (the fixture prints exactly
// this, so its report is a valid --memslots file):
//   {"files":[{"fd":7,"flags":3,"name":"ram0"}],
//    "vms":[{"token":1,"vm_type":0,"memslots":[{"slot":0,"flags":4,
//        "base_gfn":0,"npages":512,"userspace_addr":"0x7f..",
//        "gmem_fd":7,"gmem_offset":0}]}],
//    "attributes":[{"gmem_fd":7,"first":0,"count":16,"value":8}]}
// A guest_memfd is named by its fd number in the VMM (the --fd given to capture).
#ifndef KHOD_CAPTURE_VMM_DECLARATION_H_
#define KHOD_CAPTURE_VMM_DECLARATION_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/status.h"
#include "state/snapshot.h"

namespace khod {

struct DeclaredFile {
  bool has_flags = false;       // optional: the kernel shows what it can (kernel_source.h)
  uint64_t flags = 0;           // GUEST_MEMFD_FLAG_*
  uint64_t flags_mask = ~0ull;  // which bits of `flags` are declared
  std::string name;
};

struct DeclaredMemslot {
  Memslot slot;    // gmem_token is filled when the snapshot is assembled
  int gmem_fd = -1;
};

struct DeclaredVm {
  uint64_t token = 1;
  uint32_t vm_type = 0;
  std::vector<DeclaredMemslot> memslots;
};

struct VmmDeclaration {
  std::map<int, DeclaredFile> files;        // by VMM fd number
  std::vector<DeclaredVm> vms;
  std::map<int, AttributeMap> attributes;   // by VMM fd number
};

// Parses one JSON document and merges what it declares into `decl`.
Status ParseVmmDeclaration(const std::string& json, VmmDeclaration* decl);
Status LoadVmmDeclaration(const std::string& path, VmmDeclaration* decl);

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
Status ValidateVmmDeclaration(const VmmDeclaration& decl,
                              const std::map<int, CapturedFileFacts>& files, uint32_t page_size);

}  // namespace khod

#endif  // KHOD_CAPTURE_VMM_DECLARATION_H_
