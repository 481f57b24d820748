// vmm_fixture: plays a VMM for tests, demos and benchmarks.
//
// Where the kernel makes guest_memfds it creates a VM, two guest_memfds (MMAP|INIT_SHARED and
// MMAP-only, i.e. private), binds memslots to them and sets a mempolicy; it
// always makes a shmem memfd, and a HugeTLB memfd when asked (reserving huge
// pages and putting nr_hugepages back at exit). Every touchable file gets a
// written pattern and a punched hole. It prints one JSON line, a FixtureReport
// (fixture_report.proto: pid, fds, sizes, flags, and under "declaration" its
// files and memslots, a valid `khoctl capture --memslots` file) and then
// serves commands on stdin until stdin closes or SIGTERM:
//   punch NAME FIRST COUNT    fallocate(PUNCH_HOLE) pages
//   touch NAME PAGE           write to a page (allocates a hole)
//   write NAME PAGE BYTE      fill an existing page with BYTE
//   policy NAME MODE          mbind default|bind|interleave|preferred (node 0)
// Each command answers one line: "ok" or "error: ...".
//
// --take-back PID:FD:NAME:INODE[,...] (one item per file) plays the VMM restarted after a
// live update instead: it takes each restored file back from khod (PID, FD:
// GmemInfo.khod_fd) with pidfd_getfd, checks it is the file the first VMM
// had (INODE) and that the pattern Populate wrote is intact (the punched hole
// skipped, so nothing is allocated), prints one line per file and exits 0
// when all are, 1 when one is not, 2 on error.
#include <errno.h>
#include <fcntl.h>
#include <google/protobuf/util/json_util.h>
#include <linux/mempolicy.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "common/flags.h"
#include "common/hex.h"
#include "common/numbers.h"
#include "common/status_macros.h"
#include "common/unique_fd.h"
#include "kernel/kvm.h"
#include "kernel/kvm_uapi.h"
#include "kernel/memory_file.h"
#include "kernel/mempolicy.h"
#include "tools/vmm_fixture/fixture_report.pb.h"

namespace khod {
namespace {

volatile sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

struct FixtureFile {
  std::string name;
  std::string kind;
  UniqueFd fd;
  uint64_t size = 0;
  uint64_t flags = 0;         // guest_memfd creation flags
  uint64_t page_size = 4096;  // allocation unit (HugeTLB: 2 MiB)
  bool touchable = true;      // false for private guest_memfd
  uint8_t* map = nullptr;     // shared mapping (touchable files)
  // Private guest_memfd: a PROT_NONE mapping kept for the fixture's life. On
  // Linux 6.18 a guest_memfd's NUMA policy lives in each mapping (no shared
  // policy): it is mbound here, and is the memslot's userspace_addr.
  uint8_t* private_map = nullptr;
  std::string policy = "default";
  std::vector<std::pair<uint64_t, uint64_t>> holes;  // in 4 KiB pages
};

struct Options {
  uint64_t shmem_mib = 16;
  uint64_t hugetlb_mib = 0;
  uint64_t gmem_mib = 8;
  bool populate = true;
};

const uint64_t kPage = 4096;

void Fill(FixtureFile& f, uint64_t page, uint8_t byte) {
  std::memset(f.map + page * kPage, byte, kPage);
}

Status Punch(FixtureFile& f, uint64_t first, uint64_t count) {
  if (::fallocate(f.fd.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                  static_cast<off_t>(first * kPage), static_cast<off_t>(count * kPage)) < 0)
    return Status::FromErrno("punch " + f.name, errno);
  f.holes.push_back({first, count});
  return Status::Ok();
}

Status SetPolicy(FixtureFile& f, const std::string& mode) {
  Mempolicy p;
  if (mode == "default")
    p.mode = MPOL_DEFAULT;
  else if (mode == "bind")
    p.mode = MPOL_BIND;
  else if (mode == "interleave")
    p.mode = MPOL_INTERLEAVE;
  else if (mode == "preferred")
    p.mode = MPOL_PREFERRED;
  else
    return Status::InvalidArgument("unknown policy " + mode);
  if (p.mode != MPOL_DEFAULT) p.nodemask = {1};  // node 0: this machine has one node
  // On the mapping the fixture keeps: a policy set through a temporary one
  // would die with it where the file has no shared policy.
  uint8_t* addr = f.map ? f.map : f.private_map;
  if (!addr) return Status::FailedPrecondition(f.name + " is not mapped: no policy to set");
  Status s = khod::SetMempolicy(addr, f.size, p);
  if (s.ok()) f.policy = mode;
  return s;
}

// The hole Populate punches: a sixteenth of the way in, one allocation unit
// (`unit` 4 KiB pages) long; {0, 0} when the file has fewer than 4 units.
std::pair<uint64_t, uint64_t> PopulateHole(uint64_t pages, uint64_t unit) {
  if (pages / unit < 4) return {0, 0};
  const uint64_t first = (pages / 16 / unit) * unit;
  return {first ? first : unit, unit};
}

// Writes a pattern to every page (byte = page index + 1) and punches PopulateHole.
Status Populate(FixtureFile& f) {
  const uint64_t pages = f.size / kPage;
  if (f.touchable) {
    for (uint64_t p = 0; p < pages; ++p) Fill(f, p, static_cast<uint8_t>(p + 1));
  } else if (::fallocate(f.fd.get(), FALLOC_FL_KEEP_SIZE, 0, static_cast<off_t>(f.size)) < 0) {
    return Status::FromErrno("fallocate " + f.name, errno);  // allocates private pages untouched
  }
  const auto hole = PopulateHole(pages, f.page_size / kPage);
  if (hole.second) return Punch(f, hole.first, hole.second);
  return Status::Ok();
}

// Never touched (a read of a private guest_memfd is SIGBUS): mbind and
// mincore only.
Status MapPrivateGuestMemfd(FixtureFile& f) {
  void* m = ::mmap(nullptr, f.size, PROT_NONE, MAP_SHARED, f.fd.get(), 0);
  if (m == MAP_FAILED) return Status::FromErrno("mmap(PROT_NONE) " + f.name, errno);
  f.private_map = static_cast<uint8_t*>(m);
  return Status::Ok();
}

Status MapShared(FixtureFile& f) {
  void* m = ::mmap(nullptr, f.size, PROT_READ | PROT_WRITE, MAP_SHARED, f.fd.get(), 0);
  if (m == MAP_FAILED) return Status::FromErrno("mmap " + f.name, errno);
  f.map = static_cast<uint8_t*>(m);
  return Status::Ok();
}

// The one number a sysfs or procfs file holds (its line), or 0.
uint64_t ReadU64(const char* path) {
  std::ifstream f(path);
  std::string line;
  std::getline(f, line);
  return ParseU64(line).value_or(0);
}

// The next word of `in` as a whole decimal number.
std::optional<uint64_t> NextU64(std::istringstream& in) {
  std::string word;
  return in >> word ? ParseU64(word) : std::nullopt;
}

constexpr const char* kNrHugepages = "/proc/sys/vm/nr_hugepages";
constexpr const char* kFreeHugepages = "/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages";
constexpr const char* kResvHugepages = "/sys/kernel/mm/hugepages/hugepages-2048kB/resv_hugepages";

// Free pages another mapping has not already reserved: what a new mapping can get.
uint64_t AvailableHugepages() {
  const uint64_t free_now = ReadU64(kFreeHugepages), resv = ReadU64(kResvHugepages);
  return free_now > resv ? free_now - resv : 0;
}

// Gives back only what this fixture added: other fixtures may have added
// pages meanwhile, and writing back the old total would take theirs.
struct HugepageReservation {
  uint64_t added = 0;
  ~HugepageReservation() {
    if (!added) return;
    const uint64_t now = ReadU64(kNrHugepages);
    std::ofstream(kNrHugepages) << (now > added ? now - added : 0);
  }
};

Status ReserveHugepages(uint64_t n, HugepageReservation* r) {
  const uint64_t available = AvailableHugepages();
  if (available >= n) return Status::Ok();
  const uint64_t old = ReadU64(kNrHugepages);
  {
    std::ofstream w(kNrHugepages);
    w << old + (n - available);
    if (!w) return Status::PermissionDenied("cannot write /proc/sys/vm/nr_hugepages (needs root)");
  }
  const uint64_t now = ReadU64(kNrHugepages);
  r->added = now > old ? now - old : 0;
  if (AvailableHugepages() < n)
    return Status::Unsupported("could not reserve " + std::to_string(n) + " huge pages");
  return Status::Ok();
}

// The report line: what was made, and its declaration (a valid --memslots file).
std::string ReportJson(const std::vector<FixtureFile>& files, const std::string& kvm_reason,
                       const std::vector<v1::DeclaredMemslot>& slots, uint64_t hugepages_added,
                       const std::string& hugetlb_reason) {
  fixture::v1::FixtureReport r;
  r.set_pid(::getpid());
  r.set_kvm(kvm_reason.empty());
  r.set_kvm_reason(kvm_reason);
  r.set_hugepages_reserved(hugepages_added);
  r.set_hugetlb_reason(hugetlb_reason);
  for (const FixtureFile& f : files) {
    struct stat st {};
    ::fstat(f.fd.get(), &st);
    fixture::v1::FixtureFile* o = r.add_files();
    o->set_name(f.name);
    o->set_kind(f.kind);
    o->set_fd(f.fd.get());
    o->set_inode(st.st_ino);
    o->set_size(f.size);
    o->set_flags(f.flags);
    o->set_page_size(f.page_size);
    o->set_policy(f.policy);
    o->set_map(Hex(reinterpret_cast<uintptr_t>(f.map)));
    o->set_private_map(Hex(reinterpret_cast<uintptr_t>(f.private_map)));
    for (const auto& [first, count] : f.holes) {
      fixture::v1::PageRange* h = o->add_holes();
      h->set_first(first);
      h->set_count(count);
    }
    v1::DeclaredFile* d = r.mutable_declaration()->add_files();
    d->set_fd(f.fd.get());
    d->set_flags(f.flags);
    d->set_name(f.name);
  }
  if (!slots.empty()) {
    v1::DeclaredVm* vm = r.mutable_declaration()->add_vms();
    vm->set_token(1);
    vm->set_vm_type(0);
    for (const v1::DeclaredMemslot& m : slots) *vm->add_memslots() = m;
  }
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(r, &json, options).ok()) return "{}";
  return json;
}

FixtureFile* FindFile(std::vector<FixtureFile>& files, const std::string& name) {
  for (auto& f : files)
    if (f.name == name) return &f;
  return nullptr;
}

Status RunCommand(std::vector<FixtureFile>& files, const std::string& line) {
  std::istringstream in(line);
  std::string cmd, name;
  in >> cmd >> name;
  FixtureFile* f = FindFile(files, name);
  if (!f) return Status::NotFound("no file named '" + name + "'");
  const uint64_t pages = f->size / kPage;
  if (cmd == "punch") {
    const std::optional<uint64_t> first_word = NextU64(in), count_word = NextU64(in);
    if (!first_word || !count_word) return Status::InvalidArgument("punch NAME FIRST COUNT");
    const uint64_t first = *first_word, count = *count_word;
    // Checked here: first * 4096 would wrap, and a hole past the end would be reported.
    if (count == 0 || first >= pages || count > pages - first)
      return Status::InvalidArgument("pages [" + std::to_string(first) + ", +" +
                                     std::to_string(count) + ") are not inside " + name + "'s " +
                                     std::to_string(pages) + " pages");
    return Punch(*f, first, count);
  }
  if (cmd == "touch" || cmd == "write") {
    const std::optional<uint64_t> page_word = NextU64(in);
    if (!page_word) return Status::InvalidArgument(cmd + " NAME PAGE");
    const uint64_t page = *page_word;
    uint64_t byte = 0xa5;
    if (cmd == "write") {
      const std::optional<uint64_t> byte_word = NextU64(in);
      if (!byte_word || *byte_word > 255)
        return Status::InvalidArgument("write NAME PAGE BYTE (BYTE 0..255)");
      byte = *byte_word;
    }
    if (!f->map) return Status::FailedPrecondition(name + " is private: touching it is SIGBUS");
    if (page >= pages) return Status::InvalidArgument("page past the end");
    if (cmd == "touch")
      f->map[page * kPage] = static_cast<uint8_t>(byte);
    else
      Fill(*f, page, static_cast<uint8_t>(byte));
    return Status::Ok();
  }
  if (cmd == "policy") {
    std::string mode;
    in >> mode;
    return SetPolicy(*f, mode);
  }
  return Status::InvalidArgument("unknown command '" + cmd + "'");
}

constexpr const char* kUsage =
    "vmm_fixture [--shmem-mib N] [--hugetlb-mib N] [--gmem-mib N] [--no-populate]\n"
    "       vmm_fixture --take-back PID:FD:NAME:INODE[,PID:FD:NAME:INODE...]";

struct TakeBack {
  int pid = 0, fd = 0;
  std::string name;
  uint64_t inode = 0;
};

bool ParseTakeBack(const char* text, TakeBack* t) {
  if (!text) return false;
  // PID:FD:NAME:INODE, NAME 1 to 255 characters without ':'.
  std::string_view fields[4];
  std::string_view rest = text;
  for (int i = 0; i < 3; ++i) {
    const size_t colon = rest.find(':');
    if (colon == std::string_view::npos) return false;
    fields[i] = rest.substr(0, colon);
    rest.remove_prefix(colon + 1);
  }
  fields[3] = rest;
  const std::optional<int> pid = ParseInt(fields[0]), fd = ParseInt(fields[1]);
  const std::optional<uint64_t> inode = ParseU64(fields[3]);
  if (!pid || !fd || !inode || *pid <= 0 || *fd < 0 || fields[2].empty() || fields[2].size() > 255)
    return false;
  t->pid = *pid;
  t->fd = *fd;
  t->name = std::string(fields[2]);
  t->inode = *inode;
  return true;
}

// A restarted VMM runs its guest on a VM of its own. Whether KVM lets a new
// VM bind a guest_memfd taken back is the kernel's to answer, so it is asked
// and the answer printed, never assumed (on 6.18 a guest_memfd stays bound to
// the VM it was made on, and binding it to another is EINVAL). The memslot's
// userspace_addr is a reservation of this process: KVM only checks it.
std::string NewVmBindingText(int fd, uint64_t size) {
  Result<Kvm> kvm = Kvm::Open();
  Result<KvmVm> vm = kvm.ok() ? kvm->CreateVm(0) : Result<KvmVm>(kvm.status());
  if (!vm.ok()) return "no new VM to bind it to (" + vm.status().message() + ")";
  void* addr = ::mmap(nullptr, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (addr == MAP_FAILED) return std::string("no address to bind it at: ") + std::strerror(errno);
  const Status bound = vm->SetGuestMemfdRegion(0, 0, size, reinterpret_cast<uint64_t>(addr), fd, 0);
  ::munmap(addr, size);
  return bound.ok() ? "a new VM of this VMM binds it"
                    : "a new VM of this VMM cannot bind it (" + bound.message() + ")";
}

// One restored file, as the restarted VMM sees it. Returns whether it is
// intact; an error is printed as a line too.
bool CheckTakenBack(const TakeBack& t) {
  const std::string head = "VMM took " + t.name + " back from khod fd " + std::to_string(t.fd);
  Result<UniqueFd> fd = TakeFdFromProcess(t.pid, t.fd);
  Result<MemoryFileIdentity> id =
      fd.ok() ? IdentifyMemoryFile(fd->get(), "fd " + std::to_string(t.fd) + " of khod pid " +
                                                  std::to_string(t.pid))
              : Result<MemoryFileIdentity>(fd.status());
  if (!id.ok()) {
    std::printf("%s: FAILED: %s\n", head.c_str(), id.status().ToString().c_str());
    return false;
  }
  const uint64_t pages = id->size / kPage;
  if (id->inode != t.inode) {
    std::printf("%s: FAILED: inode %llu, the first VMM's was %llu\n", head.c_str(),
                static_cast<unsigned long long>(id->inode),
                static_cast<unsigned long long>(t.inode));
    return false;
  }
  const std::string binding =
      id->kind == FileKind::kGuestMemfd ? "; " + NewVmBindingText(fd->get(), id->size) : "";
  // The private guest_memfd's pages are not the host's to read (SIGBUS).
  if (t.name == "gmem_private") {
    std::printf("%s: inode same, %llu pages, contents private (not readable by the host)%s\n",
                head.c_str(), static_cast<unsigned long long>(pages), binding.c_str());
    return true;
  }
  void* m = ::mmap(nullptr, id->size, PROT_READ, MAP_SHARED, fd->get(), 0);
  if (m == MAP_FAILED) {
    std::printf("%s: FAILED: mmap: %s\n", head.c_str(), std::strerror(errno));
    return false;
  }
  const uint8_t* base = static_cast<const uint8_t*>(m);
  const auto hole = PopulateHole(pages, id->page_size / kPage);
  std::string bad;
  std::vector<uint8_t> expected(kPage);
  for (uint64_t p = 0; p < pages && bad.empty(); ++p) {
    if (p >= hole.first && p < hole.first + hole.second) continue;  // reading it would allocate
    const uint8_t want = static_cast<uint8_t>(p + 1);
    std::memset(expected.data(), want, kPage);
    if (std::memcmp(base + p * kPage, expected.data(), kPage) == 0) continue;
    for (uint64_t i = 0; i < kPage; ++i)
      if (base[p * kPage + i] != want) {
        bad = "page " + std::to_string(p) + " byte " + std::to_string(i) + " is " +
              std::to_string(base[p * kPage + i]) + ", expected " + std::to_string(want);
        break;
      }
  }
  ::munmap(m, id->size);
  if (!bad.empty()) {
    std::printf("%s: FAILED: pattern broken: %s\n", head.c_str(), bad.c_str());
    return false;
  }
  std::printf("%s: inode same, %llu pages, pattern intact%s\n", head.c_str(),
              static_cast<unsigned long long>(pages), binding.c_str());
  return true;
}

// Flag `name` as a size in MiB: a number, at most 1 TiB (so that << 20 cannot wrap).
Status MibFlag(const ParsedFlags& f, const char* name, uint64_t* out) {
  KHOD_ASSIGN_OR_RETURN(uint64_t v, f.GetUint(name, *out));
  if (v > (uint64_t{1} << 20))
    return Status::InvalidArgument(std::string(name) + " " + std::to_string(v) +
                                   " is more than 1048576 MiB");
  *out = v;
  return Status::Ok();
}

int Main(int argc, char** argv) {
  int exit_code = 0;
  std::optional<ParsedFlags> flags = ParseCommandLine(
      argc, argv, kUsage,
      {{"--shmem-mib", true, nullptr, "N  shmem memfd size in MiB (16; 0: none)"},
       {"--hugetlb-mib", true, nullptr, "N  HugeTLB memfd size in MiB (0: none)"},
       {"--gmem-mib", true, nullptr, "N  size of each guest_memfd in MiB (8; 0: no VM)"},
       {"--no-populate", false, nullptr, "  leave the files unwritten"},
       {"--take-back", true, nullptr,
        "LIST  play the restarted VMM: take each file back from khod and check it"}},
      &exit_code);
  if (!flags) return exit_code;
  Options opt;
  opt.populate = !flags->Has("--no-populate");
  for (auto [name, mib] : {std::pair<const char*, uint64_t*>{"--shmem-mib", &opt.shmem_mib},
                           {"--hugetlb-mib", &opt.hugetlb_mib},
                           {"--gmem-mib", &opt.gmem_mib}}) {
    if (Status s = MibFlag(*flags, name, mib); !s.ok()) {
      std::fprintf(stderr, "vmm_fixture: %s\nusage: %s\n", s.message().c_str(), kUsage);
      return 2;
    }
  }
  std::vector<TakeBack> take_back;
  if (flags->Has("--take-back")) {
    const std::string list = flags->Get("--take-back");
    for (size_t start = 0; start <= list.size();) {
      const size_t end = std::min(list.find(',', start), list.size());
      const std::string item = list.substr(start, end - start);
      TakeBack t;
      if (!ParseTakeBack(item.c_str(), &t)) {
        std::fprintf(stderr, "vmm_fixture: --take-back needs PID:FD:NAME:INODE, got '%s'\n",
                     item.c_str());
        return 2;
      }
      take_back.push_back(t);
      start = end + 1;
    }
  }
  if (!take_back.empty()) {
    bool all = true;
    for (const TakeBack& t : take_back) all = CheckTakenBack(t) && all;
    std::fflush(stdout);
    return all ? 0 : 1;
  }
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);

  std::vector<FixtureFile> files;
  HugepageReservation reservation;
  std::string kvm_reason, hugetlb_reason;
  std::vector<v1::DeclaredMemslot> slots;  // of the one VM, when there is one
  std::optional<Kvm> kvm;
  std::optional<KvmVm> vm;

  auto fail = [](const Status& s) {
    std::fprintf(stderr, "vmm_fixture: %s\n", s.ToString().c_str());
    return 2;
  };

  if (opt.shmem_mib) {
    FixtureFile f;
    f.name = "shmem0";
    f.kind = "shmem-memfd";
    f.size = opt.shmem_mib << 20;
    f.fd = UniqueFd(::memfd_create("shmem0", MFD_CLOEXEC));
    if (!f.fd.valid() || ::ftruncate(f.fd.get(), static_cast<off_t>(f.size)) < 0)
      return fail(Status::FromErrno("memfd shmem0", errno));
    Status s = MapShared(f);
    if (s.ok()) s = SetPolicy(f, "interleave");
    if (s.ok() && opt.populate) s = Populate(f);
    if (!s.ok()) return fail(s);
    files.push_back(std::move(f));
  }

  if (opt.hugetlb_mib) {
    const uint64_t n = (opt.hugetlb_mib + 1) / 2;
    Status s = ReserveHugepages(n, &reservation);
    if (s.ok()) {
      FixtureFile f;
      f.name = "hugetlb0";
      f.kind = "hugetlb-memfd";
      f.size = n << 21;
      f.page_size = 2 << 20;
      f.fd = UniqueFd(
          ::memfd_create("hugetlb0", MFD_CLOEXEC | MFD_HUGETLB | (21u << 26) /* MFD_HUGE_2MB */));
      if (!f.fd.valid() || ::ftruncate(f.fd.get(), static_cast<off_t>(f.size)) < 0)
        return fail(Status::FromErrno("memfd hugetlb0", errno));
      s = MapShared(f);
      if (s.ok() && opt.populate) s = Populate(f);
      if (!s.ok()) return fail(s);
      files.push_back(std::move(f));
    } else {
      hugetlb_reason = s.message();
    }
  }

  // "kvm": true only when guest_memfds were really made; a /dev/kvm whose kernel has no
  // guest_memfd (or lacks MMAP|INIT_SHARED) is a reason, as a missing /dev/kvm is.
  if (!opt.gmem_mib) kvm_reason = "not opened (--gmem-mib 0)";
  if (opt.gmem_mib) {
    auto k = Kvm::Open();
    std::optional<KvmVm> v;
    if (!k.ok()) {
      kvm_reason = k.status().message();
    } else {
      auto made =
          k->CreateVmForGuestMemfd(uapi::kGuestMemfdFlagMmap | uapi::kGuestMemfdFlagInitShared);
      if (made.status().code() == Status::Code::kUnsupported)
        kvm_reason = "/dev/kvm present, but " + made.status().message();
      else if (!made.ok())
        return fail(made.status());
      else
        v.emplace(std::move(*made));
    }
    if (v) {
      kvm.emplace(std::move(*k));
      vm.emplace(std::move(*v));
      const uint64_t size = opt.gmem_mib << 20;
      const uint64_t flag_sets[2] = {uapi::kGuestMemfdFlagMmap | uapi::kGuestMemfdFlagInitShared,
                                     uapi::kGuestMemfdFlagMmap};
      for (int i = 0; i < 2; ++i) {
        FixtureFile f;
        f.name = i == 0 ? "gmem_shared" : "gmem_private";
        f.kind = "guest_memfd";
        f.size = size;
        f.flags = flag_sets[i];
        f.touchable = i == 0;
        auto fd = vm->CreateGuestMemfd(size, f.flags);
        if (!fd.ok()) return fail(fd.status());
        f.fd = std::move(*fd);
        Status s = f.touchable ? MapShared(f) : MapPrivateGuestMemfd(f);
        if (s.ok()) s = SetPolicy(f, i == 0 ? "bind" : "preferred");
        if (s.ok() && opt.populate) s = Populate(f);
        if (!s.ok()) return fail(s);
        // userspace_addr: the file's own mapping, as a VMM of MMAP guest_memfds has it.
        const uint64_t uaddr = reinterpret_cast<uint64_t>(f.map ? f.map : f.private_map);
        // Each slot in a 1 GiB-aligned guest-physical range of its own, however big.
        const uint64_t gib = uint64_t{1} << 30;
        const uint64_t gpa = static_cast<uint64_t>(i) * ((size + gib - 1) / gib * gib);
        s = vm->SetGuestMemfdRegion(static_cast<uint32_t>(i), gpa, size, uaddr, f.fd.get(), 0);
        if (!s.ok()) return fail(s);
        v1::DeclaredMemslot m;
        m.set_slot(static_cast<uint32_t>(i));
        m.set_flags(uapi::kMemGuestMemfd);
        m.set_base_gfn(gpa >> 12);
        m.set_npages(size >> 12);
        m.set_userspace_addr(Hex(uaddr));
        m.set_gmem_fd(f.fd.get());
        m.set_gmem_offset(0);
        slots.push_back(m);
        files.push_back(std::move(f));
      }
    }
  }

  std::printf("%s\n",
              ReportJson(files, kvm_reason, slots, reservation.added, hugetlb_reason).c_str());
  std::fflush(stdout);

  std::string buf;
  while (!g_stop) {
    pollfd p{0, POLLIN, 0};
    int r = ::poll(&p, 1, 200);
    if (r < 0 && errno != EINTR) break;
    if (r <= 0) continue;
    char chunk[512];
    ssize_t n = ::read(0, chunk, sizeof(chunk));
    if (n <= 0) break;  // stdin closed: the test is done with us
    buf.append(chunk, static_cast<size_t>(n));
    size_t nl;
    while ((nl = buf.find('\n')) != std::string::npos) {
      const std::string line = buf.substr(0, nl);
      buf.erase(0, nl + 1);
      if (line.empty()) continue;
      Status s = RunCommand(files, line);
      std::printf("%s\n", s.ok() ? "ok" : ("error: " + s.ToString()).c_str());
      std::fflush(stdout);
    }
  }
  for (auto& f : files) {
    if (f.map) ::munmap(f.map, f.size);
    if (f.private_map) ::munmap(f.private_map, f.size);
  }
  return 0;  // fds close, reservation restores nr_hugepages
}

}  // namespace
}  // namespace khod

int main(int argc, char** argv) { return khod::Main(argc, argv); }
