// kernel/probe and `khoctl probe`: every capability reported agrees with a
// direct look at the same kernel interface, and both outputs are usable.
#include <dirent.h>
#include <fcntl.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <linux/mempolicy.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "kernel/kvm_uapi.h"
#include "kernel/probe.h"
#include "kernel/shared_policy_iter.h"
#include "kernel/shared_policy_probe.h"
#include "kernel/vma_policy_iter.h"
#include "khoctl/probe_report.h"
#include "tests/support/test_guest_memfd.h"

namespace khod {
namespace {

uint64_t ReadU64(const std::string& path) {
  std::ifstream f(path);
  uint64_t v = ~0ull;
  f >> v;
  return v;
}

// size_kb -> nr_hugepages, straight from sysfs.
std::map<uint64_t, uint64_t> SysfsHugepages() {
  std::map<uint64_t, uint64_t> out;
  DIR* d = ::opendir("/sys/kernel/mm/hugepages");
  while (dirent* e = d ? ::readdir(d) : nullptr) {
    unsigned long long kb = 0;
    if (std::sscanf(e->d_name, "hugepages-%llukB", &kb) == 1)
      out[kb] = ReadU64(std::string("/sys/kernel/mm/hugepages/") + e->d_name + "/nr_hugepages");
  }
  if (d) ::closedir(d);
  return out;
}

// Touches an anonymous page and reads its pagemap entry with pread.
bool DirectPfnVisible() {
  const long page = ::sysconf(_SC_PAGESIZE);
  void* p = ::mmap(nullptr, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return false;
  static_cast<volatile char*>(p)[0] = 1;
  uint64_t entry = 0;
  const int fd = ::open("/proc/self/pagemap", O_RDONLY);
  const off_t off = static_cast<off_t>(reinterpret_cast<uintptr_t>(p) / page * 8);
  const bool read = fd >= 0 && ::pread(fd, &entry, 8, off) == 8;
  if (fd >= 0) ::close(fd);
  ::munmap(p, page);
  return read && (entry >> 63) && (entry & ((1ull << 55) - 1)) != 0;
}

TEST(KernelProbeTest, HugetlbSizesMatchSysfs) {
  const KernelCaps caps = ProbeKernel();
  const auto sysfs = SysfsHugepages();
  ASSERT_EQ(caps.hugepage_sizes.size(), sysfs.size());
  uint64_t prev = 0;
  for (const HugepageSize& h : caps.hugepage_sizes) {
    ASSERT_TRUE(sysfs.count(h.size_kb)) << h.size_kb << " kB is not in sysfs";
    EXPECT_EQ(h.total, sysfs.at(h.size_kb)) << h.size_kb << " kB";
    EXPECT_LE(h.free, h.total);
    EXPECT_GT(h.size_kb, prev) << "sizes are sorted and unique";
    prev = h.size_kb;
  }
}

TEST(KernelProbeTest, KvmPresenceMatchesTheDevice) {
  const KernelCaps caps = ProbeKernel();
  if (::access("/dev/kvm", R_OK | W_OK) != 0) {
    EXPECT_FALSE(caps.kvm_available);
    EXPECT_FALSE(caps.guest_memfd);
    EXPECT_NE(caps.kvm_reason.find("/dev/kvm"), std::string::npos) << caps.kvm_reason;
  } else {
    EXPECT_TRUE(caps.kvm_available) << caps.kvm_reason;
  }
}

// The direct look the shared-policy probe must agree with: a guest_memfd
// mapped twice, the first mapping mbound interleave on node 0, the second's
// mode read back with raw syscalls. -1: could not be looked at.
int SecondMappingModeAfterMbind() {
  const size_t bytes = 4 * static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  auto gmem = TestGuestMemfd::Make(bytes, uapi::kGuestMemfdFlagMmap);
  if (!gmem.ok()) return -1;
  void* a = ::mmap(nullptr, bytes, PROT_NONE, MAP_SHARED, gmem->fd(), 0);
  void* b = ::mmap(nullptr, bytes, PROT_NONE, MAP_SHARED, gmem->fd(), 0);
  int mode = -1;
  unsigned long node0 = 1, mask[16] = {};
  if (a != MAP_FAILED && b != MAP_FAILED &&
      ::syscall(SYS_mbind, a, bytes, MPOL_INTERLEAVE, &node0, 2, 0) == 0 &&
      ::syscall(SYS_get_mempolicy, &mode, mask, 16 * 64, b, MPOL_F_ADDR) != 0)
    mode = -1;
  if (a != MAP_FAILED) ::munmap(a, bytes);
  if (b != MAP_FAILED) ::munmap(b, bytes);
  return mode;
}

TEST(KernelProbeTest, SharedPolicyAnswerMatchesADirectLook) {
  const KernelCaps caps = ProbeKernel();
  const SharedPolicyProbe& p = caps.gmem_shared_policy;
  EXPECT_FALSE(p.evidence.empty());
  if (!caps.kvm_available || !(caps.guest_memfd_flags & uapi::kGuestMemfdFlagMmap)) {
    EXPECT_EQ(p.answer, SharedPolicyAnswer::kUnknown) << p.evidence;
    // A /dev/kvm without guest_memfd (KVM_CAP_GUEST_MEMFD 0) is named as such.
    if (caps.kvm_available && !caps.guest_memfd) {
      EXPECT_NE(p.evidence.find("no guest_memfd (KVM_CAP_GUEST_MEMFD)"), std::string::npos)
          << p.evidence;
    }
    const std::string why = !caps.kvm_available ? caps.kvm_reason
                            : !caps.guest_memfd ? "KVM_CAP_GUEST_MEMFD is 0"
                                                : "KVM_CAP_GUEST_MEMFD_FLAGS " +
                                                      std::to_string(caps.guest_memfd_flags) +
                                                      " has no GUEST_MEMFD_FLAG_MMAP";
    GTEST_SKIP() << "no mappable guest_memfd here (" << why << "): the probe can only say unknown";
  }
  const int mode = SecondMappingModeAfterMbind();
  ASSERT_GE(mode, 0) << "the direct look failed";
  EXPECT_EQ(p.answer, mode == MPOL_INTERLEAVE ? SharedPolicyAnswer::kYes : SharedPolicyAnswer::kNo)
      << p.evidence;
  // gmem-6.18-facts.md: Linux 6.18 guest_memfd has no shared policy.
  if (caps.kernel_release.rfind("6.18.", 0) == 0) {
    EXPECT_EQ(p.answer, SharedPolicyAnswer::kNo) << p.evidence;
  }
  EXPECT_NE(
      CapsToText(caps).find(std::string("gmem_shared_policy ") + SharedPolicyAnswerName(p.answer)),
      std::string::npos);
}

// The same direct look on a one-huge-page HugeTLB memfd mapped twice MAP_NORESERVE (no huge
// page is reserved or allocated). -1: could not be looked at (no HugeTLB size, no mapping).
int HugetlbSecondMappingModeAfterMbind() {
  const size_t bytes = 2u << 20;
  const int fd = ::memfd_create("khod-probe-test", MFD_CLOEXEC | MFD_HUGETLB);
  if (fd < 0) return -1;
  int mode = -1;
  if (::ftruncate(fd, bytes) == 0) {
    void* a = ::mmap(nullptr, bytes, PROT_NONE, MAP_SHARED | MAP_NORESERVE, fd, 0);
    void* b = ::mmap(nullptr, bytes, PROT_NONE, MAP_SHARED | MAP_NORESERVE, fd, 0);
    unsigned long node0 = 1, mask[16] = {};
    if (a != MAP_FAILED && b != MAP_FAILED &&
        ::syscall(SYS_mbind, a, bytes, MPOL_INTERLEAVE, &node0, 2, 0) == 0 &&
        ::syscall(SYS_get_mempolicy, &mode, mask, 16 * 64, b, MPOL_F_ADDR) != 0)
      mode = -1;
    if (a != MAP_FAILED) ::munmap(a, bytes);
    if (b != MAP_FAILED) ::munmap(b, bytes);
  }
  ::close(fd);
  return mode;
}

// The HugeTLB memfd answer is SharedPolicyOf(kHugetlbMemfd)'s, with or without /dev/kvm, and
// what the kernel does to a second mapping where it can be looked at.
TEST(KernelProbeTest, HugetlbSharedPolicyAnswerMatchesTheProbeAndADirectLook) {
  const KernelCaps caps = ProbeKernel();
  const SharedPolicyProbe& p = caps.hugetlb_shared_policy;
  const SharedPolicyProbe& direct = SharedPolicyOf(FileKind::kHugetlbMemfd);
  EXPECT_EQ(p.answer, direct.answer);
  EXPECT_EQ(p.evidence, direct.evidence);
  EXPECT_FALSE(p.evidence.empty());
  EXPECT_NE(CapsToText(caps).find(std::string("\nhugetlb_shared_policy ") +
                                  SharedPolicyAnswerName(p.answer) + ": " + p.evidence + "\n"),
            std::string::npos)
      << CapsToText(caps);
  const int mode = HugetlbSecondMappingModeAfterMbind();
  if (mode < 0) GTEST_SKIP() << "no HugeTLB memfd mapped twice here; the probe says " << p.evidence;
  EXPECT_EQ(p.answer, mode == MPOL_INTERLEAVE ? SharedPolicyAnswer::kYes : SharedPolicyAnswer::kNo)
      << p.evidence;
}

// The shared-policy reader: what khod's captures use, the same process-wide iterator.
TEST(KernelProbeTest, SharedPolicyReaderIsWhatADirectLoadSays) {
  const KernelCaps caps = ProbeKernel();
  std::string why_not;
  const bool loads = LoadedSharedPolicyIterator(&why_not) != nullptr;
  EXPECT_EQ(caps.shared_policy_iter, loads);
  EXPECT_FALSE(caps.shared_policy_iter_evidence.empty());
  if (!loads) {
    EXPECT_FALSE(why_not.empty());
    EXPECT_NE(caps.shared_policy_iter_evidence.find(why_not), std::string::npos)
        << caps.shared_policy_iter_evidence;
  }
  // Loaded, it reads this process's own files (Load reads them once already).
  if (loads) {
    EXPECT_TRUE(LoadedSharedPolicyIterator()->Read(::getpid()).ok());
  }
  EXPECT_NE(
      CapsToText(caps).find(std::string("\nshared_policy_iter ") + (loads ? "yes: " : "no: ") +
                            caps.shared_policy_iter_evidence + "\n"),
      std::string::npos)
      << CapsToText(caps);
}

TEST(KernelProbeTest, PfnsAndFlagsMatchDirectReads) {
  const KernelCaps caps = ProbeKernel();
  EXPECT_EQ(caps.pfns_readable, DirectPfnVisible());
  if (::geteuid() == 0 && DirectPfnVisible()) {
    EXPECT_TRUE(caps.pfns_readable);
  }
  EXPECT_EQ(caps.kpageflags_readable, ::access("/proc/kpageflags", R_OK) == 0);
  // The probe says what khod's captures use: the same process-wide iterator.
  std::string why_not;
  EXPECT_EQ(caps.vma_policy_iter, SharedVmaPolicyIterator(&why_not) != nullptr);
  EXPECT_FALSE(caps.vma_policy_iter_evidence.empty());
  if (!caps.vma_policy_iter) {
    EXPECT_NE(caps.vma_policy_iter_evidence.find(why_not), std::string::npos);
  }
  EXPECT_EQ(caps.luo, ::access("/dev/liveupdate", F_OK) == 0);
  if (::access("/sys/kernel/debug/kho", F_OK) == 0) {
    EXPECT_TRUE(caps.kho);
  }
  EXPECT_FALSE(caps.kho_evidence.empty());
  struct utsname u;
  ASSERT_EQ(::uname(&u), 0);
  EXPECT_EQ(caps.kernel_release, u.release);
}

// `json` (khoctl probe --json's line) read back as its message says what `caps` says.
void ExpectJsonMatches(const std::string& json, const KernelCaps& caps) {
  khoctl::v1::ProbeReport r;
  const auto parsed = google::protobuf::util::JsonStringToMessage(json, &r);
  ASSERT_TRUE(parsed.ok()) << parsed.message() << "\n" << json;
  EXPECT_EQ(r.kernel_release(), caps.kernel_release);
  EXPECT_EQ(r.kvm().available(), caps.kvm_available);
  EXPECT_EQ(r.kvm().reason(), caps.kvm_reason);
  EXPECT_EQ(r.kvm().guest_memfd_flags(), caps.guest_memfd_flags);
  EXPECT_EQ(r.kvm().memory_attributes(), caps.memory_attributes);
  EXPECT_EQ(r.kvm().gmem_shared_policy().answer(),
            SharedPolicyAnswerName(caps.gmem_shared_policy.answer));
  EXPECT_EQ(r.pfns_readable(), caps.pfns_readable);
  EXPECT_EQ(r.kpageflags_readable(), caps.kpageflags_readable);
  EXPECT_EQ(r.vma_policy_iter(), caps.vma_policy_iter);
  EXPECT_EQ(r.vma_policy_iter_evidence(), caps.vma_policy_iter_evidence);
  EXPECT_EQ(r.hugetlb_shared_policy().answer(),
            SharedPolicyAnswerName(caps.hugetlb_shared_policy.answer));
  EXPECT_EQ(r.hugetlb_shared_policy().evidence(), caps.hugetlb_shared_policy.evidence);
  EXPECT_EQ(r.shared_policy_iter(), caps.shared_policy_iter);
  EXPECT_EQ(r.shared_policy_iter_evidence(), caps.shared_policy_iter_evidence);
  EXPECT_EQ(r.kho(), caps.kho);
  EXPECT_EQ(r.luo(), caps.luo);
  ASSERT_EQ(static_cast<size_t>(r.hugetlb_size()), caps.hugepage_sizes.size());
  for (size_t i = 0; i < caps.hugepage_sizes.size(); ++i)
    EXPECT_EQ(r.hugetlb(static_cast<int>(i)).size_kb(), caps.hugepage_sizes[i].size_kb);
  // Every member is there, also at its default value, for readers other than protobuf's.
  google::protobuf::Struct doc;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &doc).ok()) << json;
  for (const char* key :
       {"kernel_release", "kvm", "hugetlb", "pfns_readable", "kpageflags_readable",
        "vma_policy_iter", "vma_policy_iter_evidence", "hugetlb_shared_policy",
        "shared_policy_iter", "shared_policy_iter_evidence", "kho", "kho_evidence", "luo",
        "kho_incoming"})
    EXPECT_EQ(doc.fields().count(key), 1u) << key;
  const google::protobuf::Struct& kvm = doc.fields().at("kvm").struct_value();
  for (const char* key : {"available", "reason", "guest_memfd", "guest_memfd_flags", "user_memory2",
                          "memory_attributes", "vm_types", "gmem_shared_policy"})
    EXPECT_EQ(kvm.fields().count(key), 1u) << "kvm." << key;
}

TEST(KernelProbeTest, JsonCarriesEveryCapabilityAndAnyReason) {
  const KernelCaps caps = ProbeKernel();
  KernelCaps odd = caps;
  // Quotes and control characters in a reason must not break the document, and come back.
  odd.kvm_reason = "a \"quoted\" \\ reason\nwith a newline\x01";
  for (const KernelCaps* c : std::vector<const KernelCaps*>{&caps, &odd}) {
    std::string json;
    google::protobuf::util::JsonPrintOptions o;
    o.preserve_proto_field_names = true;
    o.always_print_primitive_fields = true;
    ASSERT_TRUE(google::protobuf::util::MessageToJsonString(
                    ProbeReportOf(*c, Status::NotFound("no tree")), &json, o)
                    .ok());
    EXPECT_EQ(json.find('\n'), std::string::npos) << "one line";
    ExpectJsonMatches(json, *c);
  }
}

TEST(KernelProbeTest, TextNamesEachLine) {
  const std::string text = CapsToText(ProbeKernel());
  for (const char* line :
       {"kernel ", "kvm ", "hugetlb_shared_policy ", "pfns_readable ", "kpageflags ",
        "vma_policy_iter ", "shared_policy_iter ", "kho ", "luo "})
    EXPECT_NE(text.find(line), std::string::npos) << line << "\n" << text;
}

std::string RunKhoctl(const std::string& args, int* code) {
  FILE* p = ::popen(("khoctl/khoctl " + args + " 2>/dev/null").c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while (p && (n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int st = p ? ::pclose(p) : -1;
  *code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return out;
}

TEST(KernelProbeTest, KhoctlProbeJsonAndRefusals) {
  int code = -1;
  const std::string json = RunKhoctl("probe --json", &code);
  EXPECT_EQ(code, 0);
  ExpectJsonMatches(json.substr(0, json.find('\n')), ProbeKernel());
  RunKhoctl("probe extra", &code);
  EXPECT_EQ(code, 2);
  RunKhoctl("probe --bogus", &code);
  EXPECT_EQ(code, 2);
}

// KHO built in stays off unless the command line turns it on
// (kernel/liveupdate/kexec_handover.c: early_param "kho", kstrtobool).
TEST(KernelProbeTest, TheCommandLineSaysWhetherKhoIsOn) {
  EXPECT_EQ(CmdlineKho("console=ttyS0 quiet"), std::nullopt);
  EXPECT_EQ(CmdlineKho("quiet kho=on"), std::optional<bool>(true));
  EXPECT_EQ(CmdlineKho("kho=1 liveupdate=on"), std::optional<bool>(true));
  EXPECT_EQ(CmdlineKho("kho=Y"), std::optional<bool>(true));
  EXPECT_EQ(CmdlineKho("kho=off"), std::optional<bool>(false));
  EXPECT_EQ(CmdlineKho("kho=on kho=0"), std::optional<bool>(false));  // the last wins
  // After "--" the words are init's, not the kernel's.
  EXPECT_EQ(CmdlineKho("quiet -- kho=on"), std::nullopt);
  EXPECT_EQ(CmdlineKho("nokho=on kho_scratch=1G"), std::nullopt);
}

}  // namespace
}  // namespace khod
