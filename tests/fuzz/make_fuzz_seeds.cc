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
// Usage: bazel run //tests/fuzz:make_fuzz_seeds -- $PWD/fuzz/corpus
#include <fcntl.h>
#include <linux/mempolicy.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "daemon/session.h"
#include "fuzz/model_only_opener.h"
#include "handover/luo_transport.h"
#include "handover/reexec_transport.h"
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

}  // namespace
}  // namespace khod

int main(int argc, char** argv) {
  if (argc != 2 || argv[1][0] != '/') {
    std::fprintf(stderr, "usage: make_fuzz_seeds ABSOLUTE_CORPUS_DIR (fuzz/corpus)\n");
    return 2;
  }
  const std::string out = argv[1];
  khod::SessionRecords(out + "/session_record");
  khod::LuoManifests(out + "/handover", khod::Read(out + "/proto/golden_v1_0.khodsnap"),
                     khod::Read(out + "/fdt/synth_3.fdt"));
  khod::KhoTrees(out + "/kho");
  khod::ProcTexts(out + "/proc_text");
  khod::ReexecSpecs(out + "/reexec_adopt");
  return 0;
}
