#include "kernel/probe.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>

#include "common/hex.h"
#include "common/numbers.h"
#include "kernel/kvm.h"
#include "kernel/kvm_uapi.h"
#include "kernel/pagemap.h"
#include "kernel/shared_policy_iter.h"
#include "kernel/vma_policy_iter.h"

namespace khod {

namespace {

// The one number a sysfs file holds (its line), or 0.
uint64_t ReadNumber(const std::string& path) {
  std::ifstream f(path);
  std::string line;
  std::getline(f, line);
  return ParseU64(line).value_or(0);
}

bool Exists(const char* path) {
  struct stat st;
  return ::stat(path, &st) == 0;
}

std::vector<HugepageSize> ProbeHugepages() {
  std::vector<HugepageSize> out;
  const std::string root = "/sys/kernel/mm/hugepages";
  DIR* d = ::opendir(root.c_str());
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    HugepageSize h;
    const std::string_view name = e->d_name;
    constexpr std::string_view kPrefix = "hugepages-", kSuffix = "kB";
    const std::optional<uint64_t> size_kb =
        name.size() > kPrefix.size() + kSuffix.size() &&
                name.substr(0, kPrefix.size()) == kPrefix &&
                name.substr(name.size() - kSuffix.size()) == kSuffix
            ? ParseU64(name.substr(kPrefix.size(), name.size() - kPrefix.size() - kSuffix.size()))
            : std::nullopt;
    if (!size_kb) continue;
    h.size_kb = *size_kb;
    const std::string dir = root + "/" + e->d_name;
    h.total = ReadNumber(dir + "/nr_hugepages");
    h.free = ReadNumber(dir + "/free_hugepages");
    out.push_back(h);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end(),
            [](const HugepageSize& a, const HugepageSize& b) { return a.size_kb < b.size_kb; });
  return out;
}

// True when /proc/config.gz says `option`=y (zlib reads the gzip stream).
bool KernelConfigHas(const std::string& option) {
  gzFile f = gzopen("/proc/config.gz", "rb");
  if (!f) return false;
  const std::string want = option + "=y";
  char line[512];
  bool found = false;
  while (gzgets(f, line, sizeof(line))) {
    if (want.compare(0, want.size(), line, want.size()) == 0 &&
        (line[want.size()] == '\n' || line[want.size()] == 0)) {
      found = true;
      break;
    }
  }
  gzclose(f);
  return found;
}

}  // namespace

std::optional<bool> CmdlineKho(const std::string& cmdline) {
  std::optional<bool> said;
  std::istringstream words(cmdline);
  for (std::string w; words >> w;) {
    if (w == "--") break;  // what follows is init's
    if (w.rfind("kho=", 0) != 0) continue;
    const std::string v = w.substr(4);
    // kstrtobool: the first character decides, "on"/"of" by the second.
    if (v.empty()) continue;
    const char c0 = static_cast<char>(std::tolower(static_cast<unsigned char>(v[0])));
    const char c1 =
        v.size() > 1 ? static_cast<char>(std::tolower(static_cast<unsigned char>(v[1]))) : 0;
    if (c0 == 'y' || c0 == 't' || c0 == '1' || (c0 == 'o' && c1 == 'n')) said = true;
    if (c0 == 'n' || c0 == 'f' || c0 == '0' || (c0 == 'o' && c1 == 'f')) said = false;
  }
  return said;
}

namespace {

// Maps one page of an anonymous mapping, touches it and reads its pagemap
// entry: non-zero PFN means this process may see PFNs.
bool PfnsReadable() {
  auto reader = PageFrameReader::Open();
  if (!reader.ok()) return false;
  const size_t page = static_cast<size_t>(getpagesize());
  void* p = ::mmap(nullptr, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return false;
  static_cast<volatile char*>(p)[0] = 1;
  uint64_t e = 0;
  bool ok = reader->ReadPagemap(p, 1, &e).ok() && PagemapPresent(e) && PagemapPfn(e) != 0;
  ::munmap(p, page);
  return ok;
}

void ProbeKvm(KernelCaps* c) {
  auto kvm = Kvm::Open();
  if (!kvm.ok()) {
    c->kvm_reason = kvm.status().message();
    return;
  }
  c->kvm_available = true;
  auto vm = kvm->CreateVm(0);
  if (!vm.ok()) {
    c->kvm_reason = vm.status().message();
    return;
  }
  auto cap = [&](long n) -> uint64_t {
    auto r = vm->CheckExtension(n);
    return r.ok() && *r > 0 ? static_cast<uint64_t>(*r) : 0;
  };
  c->guest_memfd = cap(uapi::kCapGuestMemfd) != 0;
  c->guest_memfd_flags = cap(uapi::kCapGuestMemfdFlags);
  c->user_memory2 = cap(uapi::kCapUserMemory2) != 0;
  c->memory_attributes = cap(uapi::kCapMemoryAttributes);
  auto types = kvm->CheckExtension(uapi::kCapVmTypes);
  c->vm_types = types.ok() && *types > 0 ? static_cast<uint64_t>(*types) : 0;
}

}  // namespace

KernelCaps ProbeKernel() {
  KernelCaps c;
  struct utsname u;
  if (::uname(&u) == 0) c.kernel_release = u.release;
  ProbeKvm(&c);
  c.gmem_shared_policy = GuestMemfdSharedPolicy();
  c.hugetlb_shared_policy = SharedPolicyOf(FileKind::kHugetlbMemfd);
  c.hugepage_sizes = ProbeHugepages();
  c.pfns_readable = PfnsReadable();
  c.kpageflags_readable = ::access("/proc/kpageflags", R_OK) == 0;
  std::string why_not;
  c.vma_policy_iter = SharedVmaPolicyIterator(&why_not) != nullptr;
  // What this process could load: a khod with the same rights reads as it says.
  c.vma_policy_iter_evidence =
      c.vma_policy_iter
          ? "the BPF task_vma iterator loads: VMM mappings' policies are read from the VMAs, "
            "numa_maps only for a policy its file decides"
          : why_not +
                ": VMM mappings' policies are read from numa_maps, which walks every "
                "mapped page";
  std::string shared_why_not;
  c.shared_policy_iter = LoadedSharedPolicyIterator(&shared_why_not) != nullptr;
  c.shared_policy_iter_evidence =
      c.shared_policy_iter
          ? "the BPF task_file iterator loads: each shmem file's shared policy is read whole, "
            "every range of it"
          : shared_why_not +
                ": a shmem file's shared policy cannot be read whole; a capture records it "
                "unknown";
  if (Exists("/sys/kernel/debug/kho")) {
    c.kho = true;
    c.kho_evidence = "/sys/kernel/debug/kho";
  } else if (KernelConfigHas("CONFIG_KEXEC_HANDOVER")) {
    // Built in, KHO is off unless this boot turned it on.
    std::ifstream f("/proc/cmdline");
    std::string cmdline;
    std::getline(f, cmdline);
    const std::optional<bool> on = CmdlineKho(cmdline);
    const bool by_default = KernelConfigHas("CONFIG_KEXEC_HANDOVER_ENABLE_DEFAULT");
    c.kho = on.value_or(by_default);
    c.kho_evidence =
        std::string("CONFIG_KEXEC_HANDOVER=y, ") +
        (on           ? (*on ? "kho=on" : "kho=off") + std::string(" on the command line")
         : by_default ? "enabled by default (CONFIG_KEXEC_HANDOVER_ENABLE_DEFAULT=y)"
                      : "off: no kho=on on the command line") +
        " (no /sys/kernel/debug/kho: debugfs not mounted, or CONFIG_KEXEC_HANDOVER_DEBUGFS off)";
  } else {
    c.kho_evidence = "no /sys/kernel/debug/kho and CONFIG_KEXEC_HANDOVER is not set";
  }
  c.luo = Exists("/dev/liveupdate");
  return c;
}

std::string CapsToText(const KernelCaps& c) {
  std::ostringstream o;
  o << "kernel            " << c.kernel_release << "\n";
  if (c.kvm_available) {
    o << "kvm               yes\n";
    o << "guest_memfd       " << (c.guest_memfd ? "yes" : "no") << " flags "
      << Hex(c.guest_memfd_flags)
      << ((c.guest_memfd_flags & uapi::kGuestMemfdFlagMmap) ? " MMAP" : "")
      << ((c.guest_memfd_flags & uapi::kGuestMemfdFlagInitShared) ? " INIT_SHARED" : "") << "\n";
    o << "user_memory2      " << (c.user_memory2 ? "yes" : "no") << "\n";
    o << "memory_attributes " << Hex(c.memory_attributes)
      << ((c.memory_attributes & uapi::kMemoryAttributePrivate) ? " PRIVATE" : " (none)") << "\n";
    o << "vm_types          " << Hex(c.vm_types) << "\n";
    o << "gmem_shared_policy " << SharedPolicyAnswerName(c.gmem_shared_policy.answer) << ": "
      << c.gmem_shared_policy.evidence << "\n";
  } else {
    o << "kvm               no: " << c.kvm_reason << "\n";
  }
  o << "hugetlb_shared_policy " << SharedPolicyAnswerName(c.hugetlb_shared_policy.answer) << ": "
    << c.hugetlb_shared_policy.evidence << "\n";
  for (const auto& h : c.hugepage_sizes)
    o << "hugetlb           " << h.size_kb << " kB: " << h.free << " free of " << h.total << "\n";
  o << "pfns_readable     " << (c.pfns_readable ? "yes" : "no (needs root)") << "\n";
  o << "kpageflags        " << (c.kpageflags_readable ? "yes" : "no (needs root)") << "\n";
  o << "vma_policy_iter   " << (c.vma_policy_iter ? "yes: " : "no: ") << c.vma_policy_iter_evidence
    << "\n";
  o << "shared_policy_iter " << (c.shared_policy_iter ? "yes: " : "no: ")
    << c.shared_policy_iter_evidence << "\n";
  o << "kho               " << (c.kho ? "yes" : "no") << ": " << c.kho_evidence << "\n";
  o << "luo               " << (c.luo ? "yes (/dev/liveupdate)" : "no (/dev/liveupdate missing)")
    << "\n";
  return o.str();
}

}  // namespace khod
