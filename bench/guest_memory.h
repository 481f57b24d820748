// The guest memory a bench stands a guest on: a real guest_memfd
// (MMAP|INIT_SHARED, on a VM of the caller's own) where the kernel makes one,
// else a shmem memfd stand-in (no /dev/kvm, or a /dev/kvm whose kernel has no
// guest_memfd). `what` says which and why, for the bench's output.
#ifndef KHOD_BENCH_GUEST_MEMORY_H_
#define KHOD_BENCH_GUEST_MEMORY_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/unique_fd.h"
#include "kernel/kvm.h"
#include "kernel/mapping.h"

namespace khod {

// One VM (where guest_memfd exists) and the guest memory files made on it. A
// real guest_memfd is bound to the VM of the process that created it: one
// VM per VMM process, as a real host has.
struct GuestMemory {
  std::optional<Kvm> kvm;
  std::optional<KvmVm> vm;
  std::vector<UniqueFd> fds;
  uint64_t flags = 0;  // guest_memfd creation flags, declared at Attach
  std::string what;
};

// `count` files of `bytes` each, none populated.
Result<GuestMemory> MakeGuestMemory(uint64_t bytes, int count = 1);

// Writes one byte of every 4 KiB page of `fd` through a shared mapping
// (a guest_memfd has no write()), so every page is allocated; `threads`
// threads each write an equal share at once (vCPUs touching their memory).
// The mapping is then unmapped, unless `kept` is given: it is moved there and
// stays as long as the caller holds it, as a VMM keeps its guest memory
// mapped. A kept mapping's page tables are what reading the process's
// /proc/PID/numa_maps walks (docs/DESIGN.md, NUMA policy).
Status Populate(int fd, uint64_t bytes, int threads = 1, Mapping* kept = nullptr);

// /proc/meminfo's MemAvailable in bytes, 0 when unreadable.
uint64_t MemAvailableBytes();

}  // namespace khod

#endif  // KHOD_BENCH_GUEST_MEMORY_H_
