// What the rule "in-memory state changes only once its record is durable"
// (docs/SECURITY.md) costs: one session-record write as every call that
// changes state makes it (daemon/record_file.h: write "<name>.tmp", fsync
// it, rename it over the record, fsync the directory), for records of 1 to
// 100 gmems, on the file system of --dir. A Freeze makes one of them
// (HANDED_OVER) plus one blob fsync (WriteFileBeforeItsRecord), timed here too
// for a blob of --blob-mib. Prints median, p90 and max per case.
// Build with -c opt and run bazel-bin/bench/record_write_bench directly.
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "common/flags.h"
#include "common/safe_file.h"
#include "daemon/record_file.h"
#include "daemon/session_record.pb.h"

namespace khod {
namespace {

// A record as Attach leaves it for `gmems` guest_memfds of one VM.
std::string RecordOf(int gmems) {
  v1::SessionRecord r;
  r.set_session_id(7);
  r.set_generation(3);
  v1::VmRecord* vm = r.add_vms();
  vm->set_token(1);
  for (int i = 0; i < gmems; ++i) {
    v1::GmemAttachment* g = r.add_gmems();
    g->set_token(100 + i);
    g->set_name("guest" + std::to_string(i));
    g->set_pid(4242);
    g->set_fd(20 + i);
    g->set_inode(900000 + i);
    g->set_kind("guest_memfd");
    g->set_vm_token(1);
    g->set_hash_contents(true);
    v1::Memslot* m = vm->add_memslots();
    m->set_slot(i);
    m->set_npages(1u << 18);
    m->set_base_gfn(static_cast<uint64_t>(i) << 18);
    vm->add_memslot_gmem(100 + i);
  }
  return r.SerializeAsString();
}

struct Figures {
  double median, p90, max;
};

template <typename Write>
Figures Time(int runs, Write write) {
  std::vector<double> ms;
  for (int i = 0; i < runs; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    write(i);
    ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms[ms.size() * 9 / 10], ms.back()};
}

int Main(int argc, char** argv) {
  int code = 0;
  std::optional<ParsedFlags> f = ParseCommandLine(
      argc, argv, "record_write_bench [--dir DIR] [--runs N] [--blob-mib M]",
      {{"--dir", true, nullptr, "DIR  parent of the scratch state dir (default /var/tmp)"},
       {"--runs", true, nullptr, "N  writes per case (default 200)"},
       {"--blob-mib", true, nullptr, "M  size of the blob written once per run (default 4)"}},
      &code);
  if (!f) return code;
  Result<uint64_t> runs = f->GetUint("--runs", 200), blob_mib = f->GetUint("--blob-mib", 4);
  if (!runs.ok() || !blob_mib.ok() || *runs == 0) {
    std::fprintf(stderr, "record_write_bench: %s\n",
                 (!runs.ok() ? runs.status() : blob_mib.status()).ToString().c_str());
    return 2;
  }
  std::string scratch = f->Get("--dir", "/var/tmp") + "/khod-record-bench.XXXXXX";
  if (::mkdtemp(scratch.data()) == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  Result<SafeDir> dir = SafeDir::Open(scratch, 0);
  if (!dir.ok()) {
    std::fprintf(stderr, "record_write_bench: %s\n", dir.status().ToString().c_str());
    return 1;
  }
  std::printf("state dir %s, %llu runs per case\n", scratch.c_str(),
              static_cast<unsigned long long>(*runs));
  std::printf("%-34s %9s %9s %9s %9s\n", "case", "bytes", "median ms", "p90 ms", "max ms");
  bool failed = false;
  for (int gmems : {1, 10, 100}) {
    const std::string payload = RecordOf(gmems);
    const Figures t = Time(static_cast<int>(*runs), [&](int) {
      failed |= !WriteRecordFile(*dir, "session.rec", payload).ok();
    });
    std::printf("%-34s %9zu %9.3f %9.3f %9.3f\n",
                ("record, " + std::to_string(gmems) + " gmems").c_str(), payload.size(), t.median,
                t.p90, t.max);
  }
  const std::string blob(static_cast<size_t>(*blob_mib) << 20, '\x5a');
  const Figures b = Time(static_cast<int>(std::min<uint64_t>(*runs, 20)), [&](int i) {
    failed |=
        !WriteFileBeforeItsRecord(scratch + "/frozen-" + std::to_string(i) + ".blob", blob).ok();
  });
  std::printf("%-34s %9zu %9.3f %9.3f %9.3f\n", "blob written and fsync'd (no rename)", blob.size(),
              b.median, b.p90, b.max);
  const std::string cleanup = "rm -rf '" + scratch + "'";
  if (std::system(cleanup.c_str()) != 0) failed = true;
  if (failed) std::fprintf(stderr, "record_write_bench: a write failed\n");
  return failed ? 1 : 0;
}

}  // namespace
}  // namespace khod

int main(int argc, char** argv) { return khod::Main(argc, argv); }
