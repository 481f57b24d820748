// rehearsal: the live update end to end on this machine, through khod's gRPC
// API exactly as an orchestration service drives it:
//   start khod -> start the VMM fixture -> attach its memory files (and MODEL
//   guests) -> Prepare -> Freeze (guests paused) with the reexec handover ->
//   end the VMM -> Restore -> Verify -> a new VMM process takes each restored
//   memory file back from khod (pidfd_getfd of GmemInfo.khod_fd) and checks
//   the fixture's pattern -> Finish, then a report of phases, durations, blob
//   sizes, what was verified and what was not, and the verdict. Its PASS line
//   claims unchanged PFNs and contents only for the memory Verify checked; a
//   guest_memfd whose pages the host cannot see (created without MMAP, or
//   without INIT_SHARED) is named as not verified (verify/verdict.h).
// The workdir is removed on PASS and kept (and named) on failure.
// Where the kernel makes no guest_memfd (no /dev/kvm, or a /dev/kvm without
// guest_memfd) the fixture makes shmem and HugeTLB memfds instead of
// guest_memfds, and the in-flight kernel features run on MODEL guests: the
// report says so. --corrupt-blob corrupts the blob the transport carries:
// Restore must refuse it with a clear message, lose nothing, and succeed
// from khod's own intact copy.
//
//   rehearsal (--help: every flag) [--khod PATH] [--fixture PATH] [--workdir DIR] [--shmem-mib 256]
//             [--hugetlb-mib 64] [--gmem-mib 256] [--model-size-gib 1024]
//             [--corrupt-blob] [--transport reexec|dir]
#include <google/protobuf/util/json_util.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/flags.h"
#include "khoctl/attach_declaration.h"
#include "khoctl/client.h"
#include "khoctl/status_report.h"
#include "tools/rehearsal/child_process.h"
#include "tools/rehearsal/sibling_binary.h"
#include "tools/vmm_fixture/fixture_report.pb.h"

namespace khod {
namespace {

struct Options {
  std::string khod, fixture, workdir;
  uint64_t shmem_mib = 256, hugetlb_mib = 64, gmem_mib = 256, model_gib = 1024;
  bool corrupt = false;
  v1::Transport transport = v1::REEXEC;
};

// <bin>/tools/rehearsal/rehearsal -> <bin>/<rel>, the same configuration.
std::string Sibling(const std::string& rel) {
  const std::string path = SiblingBinary("tools/rehearsal", rel);
  return path.empty() ? rel : path;
}

int Fail(const std::string& what, const Status& s) {
  std::printf("\nREHEARSAL FAILED at %s: %s\n", what.c_str(), s.ToString().c_str());
  return 2;
}

// The VMM restarted after the live update: a new process (the fixture in
// --take-back mode) takes every restored kernel file back from khod and
// checks the first VMM's inode and pattern. Prints its lines; true when all
// are intact.
bool VmmTakesMemoryBack(const std::string& fixture, const v1::PhaseReply& restored,
                        const std::map<std::string, uint64_t>& inode_by_name,
                        const std::string& log, int* not_bindable) {
  std::vector<std::string> argv = {fixture};
  std::string items;  // PID:FD:NAME:INODE, one per kernel file
  for (const auto& g : restored.gmems()) {
    if (g.provenance() == "MODEL") continue;
    auto inode = inode_by_name.find(g.name());
    if (!g.khod_fd() || inode == inode_by_name.end()) {
      std::printf("   VMM cannot take %s back: khod reports no fd for it\n", g.name().c_str());
      return false;
    }
    items += (items.empty() ? "" : ",") + std::to_string(restored.pid()) + ":" +
             std::to_string(g.khod_fd()) + ":" + g.name() + ":" + std::to_string(inode->second);
  }
  if (items.empty()) return true;
  argv.push_back("--take-back");
  argv.push_back(items);
  Result<ChildProcess> vmm = ChildProcess::Start(argv, true, log);
  if (!vmm.ok()) {
    std::printf("   new VMM did not start: %s\n", vmm.status().ToString().c_str());
    return false;
  }
  std::printf("   new VMM pid %d\n", vmm->pid());
  for (Result<std::string> line = vmm->ReadLine(); line.ok(); line = vmm->ReadLine()) {
    std::printf("   %s\n", line->c_str());
    if (line->find("cannot bind it") != std::string::npos) ++*not_bindable;
  }
  const int st = vmm->Wait();
  return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

// "MMAP|INIT_SHARED", "MMAP", "0": the creation flags of a real guest_memfd.
std::string GmemFlagsText(uint64_t flags) {
  std::string s;
  if (flags & 1) s = "MMAP";
  if (flags & 2) s += s.empty() ? "INIT_SHARED" : "|INIT_SHARED";
  return s.empty() ? "flags 0" : s;
}

double Ms(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

}  // namespace

int Rehearse(const Options& o) {
  using Clock = std::chrono::steady_clock;
  const std::string sock = o.workdir + "/khod.sock";
  const std::string state = o.workdir + "/state";
  std::printf("== khod live-update rehearsal (workdir %s)\n", o.workdir.c_str());
  std::vector<std::string> kargv = {o.khod, "--socket=" + sock, "--state-dir=" + state};
  if (o.corrupt) kargv.push_back("--fault=corrupt-handover-blob");
  Result<ChildProcess> khod = ChildProcess::Start(kargv, false, o.workdir + "/khod.log");
  if (!khod.ok()) return Fail("start khod", khod.status());
  KhodClient client(sock);
  Status h = client.WaitHealthy(std::chrono::seconds(10));
  if (!h.ok()) return Fail("khod health", h);
  std::printf("   khod pid %d serving %s (health: SERVING)\n", khod->pid(), sock.c_str());

  std::vector<std::string> fargv = {o.fixture,
                                    "--shmem-mib",
                                    std::to_string(o.shmem_mib),
                                    "--hugetlb-mib",
                                    std::to_string(o.hugetlb_mib),
                                    "--gmem-mib",
                                    std::to_string(o.gmem_mib)};
  Result<ChildProcess> vmm = ChildProcess::Start(fargv, true, o.workdir + "/vmm.log");
  if (!vmm.ok()) return Fail("start VMM fixture", vmm.status());
  Result<std::string> line = vmm->ReadLine();
  if (!line.ok()) return Fail("VMM fixture report", line.status());
  fixture::v1::FixtureReport fx;
  const auto parsed = google::protobuf::util::JsonStringToMessage(*line, &fx);
  if (!parsed.ok())
    return Fail("VMM fixture JSON", Status::InvalidArgument(std::string(parsed.message())));
  std::printf("   VMM fixture pid %d\n", vmm->pid());
  // What the fixture really made decides, not whether /dev/kvm exists: a /dev/kvm can lack
  // guest_memfd.
  const bool kvm = fx.kvm();
  std::printf("   guest_memfd: %s\n",
              kvm ? "real guest_memfds"
                  : ("NONE (" + fx.kvm_reason() +
                     "): shmem/HugeTLB memfds stand in for guest_memfd, in-flight features run "
                     "on MODEL guests")
                        .c_str());

  std::printf("\n-- attach\n");
  std::map<std::string, uint64_t> inode_by_name;  // the first VMM's files
  for (const fixture::v1::FixtureFile& f : fx.files()) {
    v1::AttachRequest q;
    // Its name, flags, VM and memslots: what the fixture declares, as khoctl attach --memslots.
    Status declared = AddDeclarationTo(fx.declaration(), f.fd(), &q);
    if (!declared.ok()) return Fail("VMM fixture declaration", declared);
    inode_by_name[q.name()] = f.inode();
    q.mutable_kernel()->set_fd(f.fd());
    q.mutable_kernel()->set_pid(vmm->pid());
    q.set_hash_contents(true);
    Result<v1::AttachReply> r = client.Attach(q);
    if (!r.ok()) return Fail("attach " + q.name(), r.status());
    std::string kind = r->gmem().kind();
    if (kind == "guest_memfd") kind += " " + GmemFlagsText(q.gmem_flags());
    std::printf("   %-14s %-28s %9s  %s\n", q.name().c_str(), kind.c_str(),
                FormatBytes(r->gmem().size()).c_str(), r->gmem().source().c_str());
  }
  if (o.model_gib) {
    // MODEL guests: HugeTLB-backed guest_memfd with 1 GiB folios, converted in
    // part to private (so restructuring records exist), as the seed describes.
    v1::AttachRequest q;
    q.set_name("model-1g");
    q.mutable_model()->set_size(o.model_gib << 30);
    q.mutable_model()->set_hstate_order(18);
    q.mutable_model()->set_populate(true);
    auto* a = q.add_attributes();
    a->set_first(512);  // pages 512..1023 private: splits the first 1 GiB folio
    a->set_count(512);
    a->set_value(8);
    Result<v1::AttachReply> r = client.Attach(q);
    if (!r.ok()) return Fail("attach MODEL guest", r.status());
    std::printf("   %-14s %-14s %9s  %s\n", q.name().c_str(), "MODEL",
                FormatBytes(r->gmem().size()).c_str(), r->gmem().source().c_str());
  }

  std::printf("\n-- live update\n");
  Result<v1::PhaseReply> p = client.Prepare();
  if (!p.ok()) return Fail("Prepare", p.status());
  std::printf("   Prepare  -> %s: %s\n", PhaseText(p->phase()).c_str(), p->message().c_str());

  Result<v1::StatusReply> before = client.GetStatus();
  if (!before.ok()) return Fail("Status", before.status());
  // Blackout starts: the orchestrator has paused the guests.
  const auto blackout0 = Clock::now();
  v1::FreezeRequest fq;
  fq.set_guests_paused(true);
  fq.set_transport(o.transport);
  Result<v1::PhaseReply> fr = client.Freeze(fq);
  if (!fr.ok()) return Fail("Freeze", fr.status());
  std::printf("   Freeze   -> %s: %s\n", PhaseText(fr->phase()).c_str(), fr->message().c_str());
  Result<v1::StatusReply> st = before;
  if (o.transport == v1::REEXEC) {
    st = client.WaitNewIncarnation(before->incarnation(), std::chrono::seconds(30));
    if (!st.ok()) return Fail("khod after reexec", st.status());
  }
  const auto after_exec = Clock::now();
  std::printf("   new khod serving (pid %u, reexecs %llu): %s\n", st->pid(),
              static_cast<unsigned long long>(st->exec_count()), st->recovery().c_str());

  // The old VMM goes away: from here the memory lives only in khod's fds.
  const auto vmm0 = Clock::now();
  vmm->Stop(SIGTERM);
  const auto vmm_teardown = Clock::now() - vmm0;
  std::printf("   VMM fixture ended\n");

  const auto restore0 = Clock::now();
  Result<v1::PhaseReply> rr = client.Restore(v1::RestoreRequest());
  bool recovered_from_corruption = false;
  if (!rr.ok()) {
    std::printf("   Restore  REFUSED: %s\n", rr.status().ToString().c_str());
    if (!o.corrupt) return Fail("Restore", rr.status());
    st = client.GetStatus();
    std::printf("   nothing lost: phase %s, %d gmems still held\n", PhaseText(st->phase()).c_str(),
                st->gmems_size());
    v1::RestoreRequest again;
    again.set_from_state_dir(true);
    rr = client.Restore(again);
    if (!rr.ok()) return Fail("Restore from khod's own copy", rr.status());
    recovered_from_corruption = true;
  }
  std::printf("   Restore  -> %s: %s\n", PhaseText(rr->phase()).c_str(), rr->message().c_str());
  Result<v1::VerifyReply> vr = client.Verify();
  if (!vr.ok()) return Fail("Verify", vr.status());
  const auto blackout1 = Clock::now();
  std::printf("   Verify   -> %s", FormatVerify(*vr).c_str());
  bool taken_back = false;
  int not_bindable = 0;  // guest_memfds the new VMM's own VM could not bind
  std::chrono::steady_clock::duration take_back_time{};
  // No difference where observable: EQUAL, or NOT VERIFIED with the parts named below.
  const bool no_difference = vr->differences_size() == 0;
  if (no_difference) {
    // Before Finish: khod holds the restored files until then.
    std::printf("\n-- the restarted VMM takes its memory back (pidfd_getfd of khod's fds)\n");
    const auto t0 = Clock::now();
    taken_back =
        VmmTakesMemoryBack(o.fixture, *rr, inode_by_name, o.workdir + "/vmm2.log", &not_bindable);
    take_back_time = Clock::now() - t0;
  }
  if (no_difference && taken_back) {
    Result<v1::PhaseReply> fin = client.Finish();
    if (!fin.ok()) return Fail("Finish", fin.status());
    std::printf("   Finish   -> %s\n", PhaseText(fin->phase()).c_str());
  }

  st = client.GetStatus();
  std::printf("\n== report\n");
  for (const auto& d : st->durations())
    std::printf("   %-12s %s\n", PhaseText(d.phase()).c_str(), FormatNanos(d.nanos()).c_str());
  std::printf("   %-12s %.2f ms (Freeze call to the new khod answering health)\n", "reexec gap",
              Ms(after_exec - blackout0));
  std::printf("   %-12s %.2f ms (restore + verify, client side)\n", "new side",
              Ms(blackout1 - restore0));
  std::printf("   %-12s %.2f ms (freeze + handover + restore + verify; VMM teardown excluded)\n",
              "blackout", Ms(blackout1 - blackout0) - Ms(vmm_teardown));
  std::printf("   %-12s %.2f ms (new VMM process: pidfd_getfd + every page read)\n", "take back",
              Ms(take_back_time));
  std::printf("   blobs        prepared %s (proto), frozen %s (%s)\n",
              FormatBytes(st->prepared_blob_bytes()).c_str(), FormatBytes(st->blob_bytes()).c_str(),
              v1::BlobFormat_Name(st->blob_format()).c_str());
  // What Verify checked, and what it could not (never counted as unchanged).
  std::printf("   verified     %llu pages equal, %llu different: %s\n",
              static_cast<unsigned long long>(vr->pages_equal()),
              static_cast<unsigned long long>(vr->pages_different()),
              FormatVerify(*vr).substr(0, FormatVerify(*vr).find('\n')).c_str());
  for (const auto& u : vr->unverified()) {
    std::string parts;
    for (const auto& p : u.parts()) parts += (parts.empty() ? "" : "; ") + p;
    std::printf("   NOT verified gmem %llu '%s': %s\n", static_cast<unsigned long long>(u.token()),
                u.name().c_str(), parts.c_str());
  }
  const bool all_verified = vr->unverified_size() == 0;
  const bool pass = no_difference && taken_back && (!o.corrupt || recovered_from_corruption);
  const std::string checked =
      "PASS: no difference across the handover in the " +
      std::to_string(vr->real_pages_compared()) + " real pages checked (" +
      (vr->real_kinds().empty() ? std::string("none") : vr->real_kinds()) + ": PFN unchanged for " +
      std::to_string(vr->real_pfns_compared()) + " whose PFN was seen, " +
      std::to_string(vr->real_hashes_compared()) + " content hashes unchanged)" +
      (vr->model_pages_compared() ? " and the MODEL guests" : "") +
      (all_verified ? ""
                    : "; " + std::to_string(vr->pages_unverified()) + " pages of " +
                          std::to_string(vr->unverified_size()) +
                          " guest_memfd(s) NOT verified (listed above)") +
      "; memory handed back to the VMM" +
      (not_bindable ? " and read back intact, but " + std::to_string(not_bindable) +
                          " guest_memfd(s) stay bound to the VM that made them: a new VM cannot "
                          "bind them on this kernel (a restarted VMM offers rebuild_into with "
                          "force_rebuild instead)"
                    : std::string());
  std::printf("   verdict      %s\n",
              !no_difference ? "FAIL: restored state differs (see above)"
              : !taken_back  ? "FAIL: the restarted VMM could not take its memory back intact"
              : pass         ? checked.c_str()
                             : "FAIL: the corrupt blob was not detected");
  if (o.corrupt)
    std::printf("   corruption   %s\n",
                recovered_from_corruption ? "refused with a clear message; nothing lost; restored "
                                            "from khod's intact copy"
                                          : "not detected (!)");
  if (!kvm)
    std::printf(
        "   note         no guest_memfd here: kernel part ran on shmem/HugeTLB memfds, "
        "guest_memfd features on MODEL guests\n");
  khod->Stop(SIGTERM);
  return pass ? 0 : 1;
}

}  // namespace khod

int main(int argc, char** argv) {
  using namespace khod;
  Options o;
  o.khod = Sibling("daemon/khod");
  o.fixture = Sibling("tools/vmm_fixture/vmm_fixture");
  int exit_code = 0;
  const std::optional<ParsedFlags> f = ParseCommandLine(
      argc, argv, "rehearsal [FLAGS]",
      {{"--khod", true, nullptr, "PATH  khod binary (default: beside this one)"},
       {"--fixture", true, nullptr, "PATH  the VMM fixture binary"},
       {"--workdir", true, nullptr, "DIR  kept on failure (default /tmp/khod-rehearsal.*)"},
       {"--shmem-mib", true, nullptr, "N  shmem memfd MiB (default 256)"},
       {"--hugetlb-mib", true, nullptr, "N  HugeTLB memfd MiB (default 64)"},
       {"--gmem-mib", true, nullptr,
        "N  guest_memfd MiB where the kernel makes them (default 256)"},
       {"--model-size-gib", true, nullptr, "N  MODEL guest GiB (default 1024)"},
       {"--corrupt-blob", false, nullptr, "  corrupt the blob the transport carries"},
       {"--transport", true, nullptr, "reexec|dir  handover transport (default reexec)"}},
      &exit_code);
  if (!f) return exit_code;
  o.khod = f->Get("--khod", o.khod);
  o.fixture = f->Get("--fixture", o.fixture);
  o.workdir = f->Get("--workdir", o.workdir);
  for (auto [flag, field] : {std::pair{"--shmem-mib", &o.shmem_mib},
                             {"--hugetlb-mib", &o.hugetlb_mib},
                             {"--gmem-mib", &o.gmem_mib},
                             {"--model-size-gib", &o.model_gib}}) {
    Result<uint64_t> v = f->GetUint(flag, *field);
    if (!v.ok()) {
      std::fprintf(stderr, "rehearsal: %s\n", v.status().message().c_str());
      return 2;
    }
    *field = *v;
  }
  o.corrupt = f->Has("--corrupt-blob");
  const std::string transport = f->Get("--transport", "reexec");
  if (transport != "reexec" && transport != "dir") {
    std::fprintf(stderr, "rehearsal: --transport must be reexec or dir\n");
    return 2;
  }
  o.transport = transport == "dir" ? v1::DIR : v1::REEXEC;
  if (o.workdir.empty()) {
    char tmpl[] = "/tmp/khod-rehearsal.XXXXXX";
    if (!::mkdtemp(tmpl)) return 2;
    o.workdir = tmpl;
  }
  const int rc = Rehearse(o);
  // Kept on failure for the logs; a passing run leaves nothing behind.
  std::error_code ec;
  if (rc == 0) std::filesystem::remove_all(o.workdir, ec);
  if (rc != 0 || ec)
    std::printf("   workdir      kept: %s (khod.log, vmm.log, vmm2.log, state/)%s\n",
                o.workdir.c_str(), ec ? (": removing it failed: " + ec.message()).c_str() : "");
  std::fflush(stdout);
  return rc;
}
