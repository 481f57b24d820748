#include "bench/guest_memory.h"

#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "kernel/kvm_uapi.h"

namespace khod {

Result<GuestMemory> MakeGuestMemory(uint64_t bytes, int count) {
  GuestMemory g;
  Result<Kvm> kvm = Kvm::Open();
  if (kvm.ok()) {
    g.kvm.emplace(std::move(*kvm));
    Result<KvmVm> vm = g.kvm->CreateVm(0);
    if (!vm.ok()) return vm.status();
    g.vm.emplace(std::move(*vm));
    g.flags = uapi::kGuestMemfdFlagMmap | uapi::kGuestMemfdFlagInitShared;
    for (int i = 0; i < count; ++i) {
      Result<UniqueFd> fd = g.vm->CreateGuestMemfd(bytes, g.flags);
      if (!fd.ok()) return fd.status();
      g.fds.push_back(std::move(*fd));
    }
    g.what = "real guest_memfd (MMAP|INIT_SHARED, /dev/kvm present)";
    return g;
  }
  for (int i = 0; i < count; ++i) {
    UniqueFd fd(::memfd_create("bench-guest", MFD_CLOEXEC));
    if (!fd.valid()) return Status::FromErrno("memfd_create", errno);
    if (::ftruncate(fd.get(), static_cast<off_t>(bytes)) != 0)
      return Status::FromErrno("ftruncate", errno);
    g.fds.push_back(std::move(fd));
  }
  g.what = "shmem memfd stand-in (no /dev/kvm here: " + kvm.status().message() + ")";
  return g;
}

Status Populate(int fd, uint64_t bytes) {
  void* m = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (m == MAP_FAILED) return Status::FromErrno("mmap of the guest memory", errno);
  char* p = static_cast<char*>(m);
  for (uint64_t off = 0; off < bytes; off += 4096) p[off] = static_cast<char>(off >> 12);
  ::munmap(m, bytes);
  return Status::Ok();
}

uint64_t MemAvailableBytes() {
  FILE* f = std::fopen("/proc/meminfo", "re");
  if (f == nullptr) return 0;
  char line[256];
  unsigned long long kb = 0;
  while (std::fgets(line, sizeof line, f) != nullptr)
    if (std::sscanf(line, "MemAvailable: %llu kB", &kb) == 1) break;
  std::fclose(f);
  return static_cast<uint64_t>(kb) << 10;
}

}  // namespace khod
