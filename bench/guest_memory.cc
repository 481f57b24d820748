#include "bench/guest_memory.h"

#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/numbers.h"
#include "common/status_macros.h"
#include "kernel/kvm_uapi.h"

namespace khod {

Result<GuestMemory> MakeGuestMemory(uint64_t bytes, int count) {
  GuestMemory g;
  const uint64_t flags = uapi::kGuestMemfdFlagMmap | uapi::kGuestMemfdFlagInitShared;
  std::string why;  // why this machine gets the stand-in
  Result<Kvm> kvm = Kvm::Open();
  if (kvm.ok()) {
    Result<KvmVm> vm = kvm->CreateVmForGuestMemfd(flags);
    if (vm.ok()) {
      g.kvm.emplace(std::move(*kvm));
      g.vm.emplace(std::move(*vm));
      g.flags = flags;
      for (int i = 0; i < count; ++i) {
        KHOD_ASSIGN_OR_RETURN(UniqueFd fd, g.vm->CreateGuestMemfd(bytes, g.flags));
        g.fds.push_back(std::move(fd));
      }
      g.what = "real guest_memfd (MMAP|INIT_SHARED, /dev/kvm present)";
      return g;
    }
    if (vm.status().code() != Status::Code::kUnsupported) return vm.status();
    why = "/dev/kvm present, but " + vm.status().message();
  } else if (kvm.status().code() == Status::Code::kNotFound) {
    why = "no /dev/kvm here: " + kvm.status().message();
  } else {
    why = "/dev/kvm did not open: " + kvm.status().message();
  }
  for (int i = 0; i < count; ++i) {
    UniqueFd fd(::memfd_create("bench-guest", MFD_CLOEXEC));
    if (!fd.valid()) return Status::FromErrno("memfd_create", errno);
    if (::ftruncate(fd.get(), static_cast<off_t>(bytes)) != 0)
      return Status::FromErrno("ftruncate", errno);
    g.fds.push_back(std::move(fd));
  }
  g.what = "shmem memfd stand-in (" + why + ")";
  return g;
}

Status Populate(int fd, uint64_t bytes, int threads, Mapping* kept) {
  Result<Mapping> m = Mapping::Map(fd, 0, bytes, PROT_READ | PROT_WRITE);
  if (!m.ok()) return m.status().WithContext("guest memory");
  char* p = reinterpret_cast<char*>(m->data());
  const uint64_t pages = bytes / 4096, share = pages / static_cast<uint64_t>(threads);
  std::vector<std::thread> ts;
  for (int i = 0; i < threads; ++i) {
    const uint64_t first = share * static_cast<uint64_t>(i);
    const uint64_t end = i + 1 == threads ? pages : first + share;
    ts.emplace_back([=] {
      for (uint64_t pg = first; pg < end; ++pg) p[pg * 4096] = static_cast<char>(pg);
    });
  }
  for (std::thread& t : ts) t.join();
  if (kept != nullptr) *kept = std::move(*m);
  return Status::Ok();
}

uint64_t MemAvailableBytes() {
  FILE* f = std::fopen("/proc/meminfo", "re");
  if (f == nullptr) return 0;
  char line[256];
  uint64_t kb = 0;
  constexpr std::string_view kKey = "MemAvailable:";
  while (std::fgets(line, sizeof line, f) != nullptr) {
    std::string_view s = line;
    if (s.substr(0, kKey.size()) != kKey) continue;
    s.remove_prefix(std::min(s.find_first_not_of(' ', kKey.size()), s.size()));
    const std::optional<uint64_t> v = ConsumeU64(&s);
    if (v && s.substr(0, 3) == " kB") kb = *v;
    break;
  }
  std::fclose(f);
  return kb << 10;
}

}  // namespace khod
