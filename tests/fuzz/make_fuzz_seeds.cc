// Writes the seed inputs of the fuzz targets that read what khod did not just
// write itself (fuzz/README.md), each made by its real writer:
//   session_record/  the state dir's session.rec as a Session of MODEL guests
//                    leaves it after each transition (Attach .. Finish, dir
//                    and reexec handovers)
//   handover/        LUO blob memfds (EncodeLuoManifest around small blobs)
//   kho/             KHO's root FDT, and past it a sub-FDT, as debugfs shows
//                    them (tests/support/kho_tree.h builds them as the kernel lays them out)
//   proc_text/       this process's maps, numa_maps and stat with a memfd
//                    mapped under a few policies (mbind), and /proc/meminfo,
//                    as the kernel prints them, cut to the lines that matter
//   reexec_adopt/    --adopt and --page-pins values (FormatAdoptSpec, FormatPagePinsSpec)
//   shared_policy/   what the shared-policy BPF program (kernel/bpf/shared_policy.bpf.c)
//                    writes of memfds of this process mbound over none, some or all of their
//                    pages (root: it loads the program), cut to those memfds' records; and
//                    three reads made from them the program does not write (Busy, cut
//                    short, a kernel without NUMA)
// Usage: bazel run //tests/fuzz:make_fuzz_seeds -- $PWD/fuzz/corpus [CORPUS...]
// (CORPUS: only those directories, e.g. shared_policy; all when none is named)
#include <fcntl.h>
#include <linux/mempolicy.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "daemon/session.h"
#include "fuzz/model_only_opener.h"
#include "handover/luo_transport.h"
#include "handover/reexec_transport.h"
#include "kernel/bpf/shared_policy_program.h"
#include "kernel/bpf/shared_policy_record.h"
#include "kernel/bpf_program.h"
#include "kernel/pidfd.h"
#include "tests/support/fixture.h"
#include "tests/support/kho_tree.h"

namespace khod {
namespace {

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "make_fuzz_seeds: %s\n", what.c_str());
  std::exit(1);
}

template <typename T>
T Must(Result<T> r, const std::string& what) {
  if (!r.ok()) Die(what + ": " + r.status().ToString());
  return std::move(*r);
}

std::string Read(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) Die("read " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void Write(const std::string& dir, const std::string& name, const std::string& bytes) {
  std::filesystem::create_directories(dir);
  std::ofstream f(dir + "/" + name, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!f) Die("write " + dir + "/" + name);
  std::printf("%s/%s: %zu bytes\n", dir.c_str(), name.c_str(), bytes.size());
}

v1::AttachRequest Model(const std::string& name, uint64_t size, uint32_t hstate_order,
                        uint64_t vm_token, uint32_t slot = 0, uint64_t base_gfn = 0) {
  v1::AttachRequest q;
  q.set_name(name);
  q.mutable_model()->set_size(size);
  q.mutable_model()->set_hstate_order(hstate_order);
  q.set_vm_token(vm_token);
  q.set_hash_contents(true);
  v1::Memslot* m = q.add_memslots();
  m->set_slot(slot);
  m->set_base_gfn(base_gfn);
  m->set_flags(4);
  m->set_npages(size / 4096);
  v1::AttributeRange* a = q.add_attributes();
  a->set_first(1);
  a->set_count(2);
  a->set_value(8);
  return q;
}

// session.rec after each transition of a session of two MODEL guests.
void SessionRecords(const std::string& out) {
  const TempDir dir("fuzz-seeds");
  SessionOptions o;
  o.state_dir = dir.path();
  o.default_transport = v1::DIR;
  o.debugfs_root = dir.Join("no-debugfs");
  o.on_exec_ready = [](std::vector<std::string>) {};
  ModelOnlyOpener opener;
  std::unique_ptr<Session> s = Must(Session::Open(o, &opener), "Open");
  const std::string record = dir.Join("session.rec");
  auto keep = [&](const std::string& name) { Write(out, name, Read(record)); };
  Must(s->Attach(Model("vm0-ram", 64 << 10, 0, 1)), "Attach");
  Must(s->Attach(Model("vm0-huge", 4 << 20, 9, 1, 1, 0x100000)), "Attach");
  keep("idle_two_models.rec");
  Must(s->Prepare(), "Prepare");
  keep("prepared.rec");
  v1::FreezeRequest f;
  f.set_guests_paused(true);
  f.set_transport(v1::DIR);
  f.set_format(v1::PROTO);
  Must(s->Freeze(f), "Freeze");
  keep("handed_over_dir.rec");
  Must(s->Restore(v1::RestoreRequest()), "Restore");
  keep("restored.rec");
  Must(s->Verify(), "Verify");
  keep("verified.rec");
  Must(s->Finish(), "Finish");
  keep("finished.rec");
  Must(s->Attach(Model("vm1", 64 << 10, 0, 2)), "Attach");
  Must(s->Prepare(), "Prepare");
  f.set_transport(v1::REEXEC);
  f.set_format(v1::FDT);
  Must(s->Freeze(f), "Freeze");
  keep("handed_over_reexec.rec");
}

// LUO blob memfds: the manifest of gmem tokens around a blob.
void LuoManifests(const std::string& out, const std::string& proto_blob,
                  const std::string& fdt_blob) {
  HandoverPackage p;
  p.blob = proto_blob;
  p.fds = {{1, -1}, {2, -1}};
  Write(out, "luo_two_gmems_proto.luo", EncodeLuoManifest(p));
  p.blob = fdt_blob;
  p.fds = {{42, -1}};
  Write(out, "luo_one_gmem_fdt.luo", EncodeLuoManifest(p));
  Write(out, "luo_no_gmems_proto.luo", EncodeLuoManifest(HandoverPackage{0, proto_blob, {}}));
}

// <kho/in/fdt>: the root FDT, then (8-aligned) the sub-FDT its LUO and khod nodes point at.
void KhoTrees(const std::string& out) {
  auto with_sub = [](std::string root, const std::string& sub) {
    root.resize((root.size() + 7) / 8 * 8, '\0');
    return root + sub;
  };
  Write(out, "kho_v1_luo_khod.fdt", with_sub(KhoRootFdt("kho-v1", {{"LUO"}, {"khod"}}), LuoFdt(7)));
  Write(out, "kho_v2_luo.fdt",
        with_sub(KhoRootFdt("kho-v2", {{"LUO", "preserved-data"}}), LuoFdt(1)));
  Write(out, "kho_v1_no_sub_fdts.fdt", KhoRootFdt("kho-v1", {{"LUO"}, {"other", ""}}));
}

// The lines of `text` that contain `needle`, and the first `head` lines (a
// seed holds no path of the machine that made it).
std::string Lines(const std::string& text, const std::string& needle, int head) {
  std::istringstream in(text);
  std::string line, kept;
  for (int i = 0; std::getline(in, line); ++i)
    if (i < head || (!needle.empty() && line.find(needle) != std::string::npos))
      kept += line + "\n";
  return kept;
}

std::string Proc(const std::string& name) {
  return Read("/proc/self/" + name);  // /proc files say size 0: read to the end
}

// maps '\0' numa_maps '\0' stat '\0' meminfo, with a memfd mapped three times
// under three policies.
void ProcTexts(const std::string& out) {
  const int fd = ::memfd_create("fuzz-seed-guest", MFD_CLOEXEC);
  if (fd < 0 || ::ftruncate(fd, 3 << 20) != 0) Die("memfd");
  unsigned long node0 = 1;
  const int modes[] = {MPOL_BIND, MPOL_INTERLEAVE, MPOL_PREFERRED};
  const unsigned flags[] = {0, MPOL_F_STATIC_NODES, 0};
  std::vector<void*> maps;
  for (int i = 0; i < 3; ++i) {
    void* p = ::mmap(nullptr, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, fd, i << 20);
    if (p == MAP_FAILED) Die("mmap");
    if (::syscall(SYS_mbind, p, 1 << 20, modes[i] | flags[i], &node0, 64, 0) != 0)
      std::fprintf(stderr, "mbind: %s (policy left default)\n", std::strerror(errno));
    static_cast<volatile char*>(p)[0] = 1;
    maps.push_back(p);
  }
  const std::string meminfo = Lines(Read("/proc/meminfo"), "HardwareCorrupted", 3);
  const std::string stat = Proc("stat");
  const std::string all_maps = Proc("maps"), all_numa = Proc("numa_maps");
  Write(out, "memfd_three_policies.txt",
        Lines(all_maps, "fuzz-seed-guest", 0) + '\0' + Lines(all_numa, "fuzz-seed-guest", 0) +
            '\0' + stat + '\0' + meminfo);
  Write(out, "self_head.txt",
        Lines(all_maps, "[", 0) + '\0' + Lines(all_numa, "stack", 0) + '\0' + stat + '\0' +
            Lines(Read("/proc/meminfo"), "", 4));
  for (void* p : maps) ::munmap(p, 1 << 20);
  ::close(fd);
}

void ReexecSpecs(const std::string& out) {
  AdoptSpec a;
  a.blob_fd = 5;
  a.fds = {{1, 7}, {2, 8}};
  Write(out, "blob_and_two_gmems.txt", FormatAdoptSpec(a));
  a.blob_fd = 8;
  a.fds = {{42, 3}, {18446744073709551615ull, 9}};
  Write(out, "blob_and_wide_tokens.txt", FormatAdoptSpec(a));
  Write(out, "page_pins.txt", FormatPagePinsSpec({{1, {9, 10}}, {2, {11}}}));
}

// A memfd of `pages` pages mapped shared, whose pages are mbound through the mapping: the
// policy goes into the inode's shared policy, which outlives the mapping.
struct SeedMemfd {
  static constexpr size_t kPage = 4096;
  int fd = -1;
  char* map = nullptr;
  size_t pages = 0;
  explicit SeedMemfd(size_t n) : pages(n) {
    fd = ::memfd_create("fuzz-seed-shared-policy", MFD_CLOEXEC);
    if (fd < 0 || ::ftruncate(fd, static_cast<off_t>(n * kPage)) != 0) Die("memfd");
    void* p = ::mmap(nullptr, n * kPage, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) Die("mmap");
    map = static_cast<char*>(p);
  }
  ~SeedMemfd() {
    ::munmap(map, pages * kPage);
    ::close(fd);
  }
  // mbind of pages [first, first + count) to `mode` (with its flags) over node 0; a mode this
  // kernel refuses is said and left out.
  void Bind(size_t first, size_t count, unsigned mode) const {
    unsigned long node0 = 1;
    if (::syscall(SYS_mbind, map + first * kPage, count * kPage, mode, &node0, 64, 0) != 0)
      std::fprintf(stderr, "mbind mode %#x: %s (left out)\n", mode, std::strerror(errno));
  }
  void HomeNode(size_t first, size_t count, unsigned long node) const {
    if (::syscall(450 /* set_mempolicy_home_node */, map + first * kPage, count * kPage, node, 0) !=
        0)
      std::fprintf(stderr, "set_mempolicy_home_node: %s (left out)\n", std::strerror(errno));
  }
};

using SharedPolicyRecord = khod_shared_policy_record;

std::string RecordBytes(const std::vector<SharedPolicyRecord>& records) {
  return std::string(reinterpret_cast<const char*>(records.data()),
                     records.size() * sizeof(SharedPolicyRecord));
}

// One read of the program over this process, cut to the records of the files `fds` are open
// on (each file record with its range records, in the program's order): a seed holds no file of
// the machine that made it.
std::vector<SharedPolicyRecord> SharedPolicyRead(const BpfProgram& program,
                                                 const std::vector<int>& fds) {
  std::set<std::pair<uint64_t, uint64_t>> files;  // (st_dev, st_ino)
  for (int fd : fds) {
    struct stat st;
    if (::fstat(fd, &st) != 0) Die("fstat");
    files.insert({st.st_dev, st.st_ino});
  }
  const UniqueFd pidfd = Must(OpenPidfd(::getpid()), "pidfd_open");
  const UniqueFd it = Must(program.OpenTaskIterator(::getpid(), pidfd.get(), "task_file"),
                           "the shared-policy iterator");
  std::string bytes;
  char buf[8192];
  for (;;) {
    const ssize_t n = ::read(it.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) Die(std::string("read of the shared-policy iterator: ") + std::strerror(errno));
    if (n == 0) break;
    bytes.append(buf, static_cast<size_t>(n));
  }
  if (bytes.size() % sizeof(SharedPolicyRecord) != 0) Die("the program wrote a part record");
  std::vector<SharedPolicyRecord> all(bytes.size() / sizeof(SharedPolicyRecord));
  std::memcpy(all.data(), bytes.data(), bytes.size());
  std::vector<SharedPolicyRecord> kept;
  for (size_t i = 0; i < all.size();) {
    const SharedPolicyRecord& f = all[i];
    if (f.kind != KHOD_SHARED_POLICY_KIND_FILE || f.ranges > all.size() - i - 1)
      Die("the program wrote record " + std::to_string(i) + " out of shape");
    const uint64_t dev = makedev(f.dev >> 20, f.dev & 0xfffff);
    if (files.count({dev, f.ino}) != 0)
      kept.insert(kept.end(), all.begin() + i, all.begin() + i + 1 + f.ranges);
    i += 1 + f.ranges;
  }
  return kept;
}

void SharedPolicies(const std::string& out) {
  const BpfProgram program = Must(
      BpfProgram::Load(kSharedPolicyBpfObject, kSharedPolicyBpfObjectSize, "khod_shared_policy"),
      "loading the shared-policy program (as root)");
  const SeedMemfd none(4);  // no policy: a file record alone
  const SeedMemfd five(16);
  five.Bind(0, 4, MPOL_BIND | MPOL_F_STATIC_NODES);
  five.HomeNode(0, 4, 0);
  five.Bind(4, 4, MPOL_INTERLEAVE | MPOL_F_RELATIVE_NODES);
  five.Bind(10, 2, MPOL_PREFERRED);
  five.Bind(12, 2, 5 /* MPOL_PREFERRED_MANY */);
  five.Bind(14, 2, 6 /* MPOL_WEIGHTED_INTERLEAVE */);
  const SeedMemfd whole(8);
  whole.Bind(0, 8, MPOL_BIND);
  const int whole_again = ::dup(whole.fd);
  const SeedMemfd eight(16);  // the most ranges the program writes
  for (size_t p = 0; p < 16; p += 2) eight.Bind(p, 1, p % 4 == 0 ? MPOL_BIND : MPOL_INTERLEAVE);
  const SeedMemfd nine(18);  // one more: cut
  for (size_t p = 0; p < 18; p += 2) nine.Bind(p, 1, MPOL_BIND);
  if (whole_again < 0) Die("dup");

  const std::vector<SharedPolicyRecord> no_policy = SharedPolicyRead(program, {none.fd});
  Write(out, "no_policy.kspr", RecordBytes(no_policy));
  const std::vector<SharedPolicyRecord> ranges = SharedPolicyRead(program, {five.fd});
  Write(out, "five_ranges_home_node.kspr", RecordBytes(ranges));
  const std::vector<SharedPolicyRecord> two_fds =
      SharedPolicyRead(program, {none.fd, whole.fd, whole_again});
  Write(out, "whole_file_at_two_fds.kspr", RecordBytes(two_fds));
  Write(out, "eight_ranges_and_cut.kspr",
        RecordBytes(SharedPolicyRead(program, {eight.fd, nine.fd})));

  // The file's second fd reads another end of its range: the tree changed during the read.
  std::vector<SharedPolicyRecord> busy = two_fds;
  if (busy.empty() || busy.back().kind != KHOD_SHARED_POLICY_KIND_RANGE) Die("no range to change");
  busy.back().end -= 1;
  Write(out, "busy_two_fds.kspr", RecordBytes(busy));
  const std::string all = RecordBytes(ranges);
  Write(out, "cut_in_last_record.kspr", all.substr(0, all.size() - 4));
  std::vector<SharedPolicyRecord> no_numa = no_policy;
  if (no_numa.empty()) Die("no file record");
  no_numa[0].flags |= KHOD_SHARED_POLICY_F_NO_NUMA;
  Write(out, "no_numa.kspr", RecordBytes(no_numa));
  ::close(whole_again);
}

}  // namespace
}  // namespace khod

int main(int argc, char** argv) {
  if (argc < 2 || argv[1][0] != '/') {
    std::fprintf(stderr, "usage: make_fuzz_seeds ABSOLUTE_CORPUS_DIR (fuzz/corpus) [CORPUS...]\n");
    return 2;
  }
  const std::string out = argv[1];
  const std::vector<std::string> only(argv + 2, argv + argc);
  auto want = [&](const char* corpus) {
    return only.empty() || std::find(only.begin(), only.end(), corpus) != only.end();
  };
  if (want("session_record")) khod::SessionRecords(out + "/session_record");
  if (want("handover"))
    khod::LuoManifests(out + "/handover", khod::Read(out + "/proto/golden_v1_0.khodsnap"),
                       khod::Read(out + "/fdt/synth_3.fdt"));
  if (want("kho")) khod::KhoTrees(out + "/kho");
  if (want("proc_text")) khod::ProcTexts(out + "/proc_text");
  if (want("reexec_adopt")) khod::ReexecSpecs(out + "/reexec_adopt");
  if (want("shared_policy")) khod::SharedPolicies(out + "/shared_policy");
  return 0;
}
