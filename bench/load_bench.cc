// Load on khod's gRPC API: 64 concurrent clients, 1,000 calls each, half
// Status and half Attach+Detach of a memfd of this process (taken with
// pidfd_getfd each time). Reports errors (target 0), p50 and p99 latency.
//
//   bazel build -c opt //bench:load_bench //daemon:khod
//   bazel-bin/bench/load_bench [--clients 64] [--calls 1000] [--khod bazel-bin/daemon/khod]
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "common/flags.h"
#include "khoctl/client.h"
#include "tools/rehearsal/child_process.h"

int main(int argc, char** argv) {
  using namespace khod;
  using Clock = std::chrono::steady_clock;
  int exit_code = 0;
  const std::optional<ParsedFlags> f = ParseCommandLine(
      argc, argv, "load_bench [FLAGS]",
      {{"--clients", true, nullptr, "N  concurrent clients (default 64)"},
       {"--calls", true, nullptr, "N  calls per client (default 1000)"},
       {"--khod", true, nullptr, "PATH  khod binary (default bazel-bin/daemon/khod)"}},
      &exit_code);
  if (!f) return exit_code;
  const std::string khod_bin = f->Get("--khod", "bazel-bin/daemon/khod");
  Result<uint64_t> clients_flag = f->GetUint("--clients", 64);
  Result<uint64_t> calls_flag = f->GetUint("--calls", 1000);
  for (const Result<uint64_t>* r : {&clients_flag, &calls_flag}) {
    if (!r->ok() || **r == 0 || **r > 100000) {
      std::fprintf(
          stderr, "load_bench: %s\n",
          r->ok() ? "--clients and --calls take 1 to 100000" : r->status().message().c_str());
      return 2;
    }
  }
  const int clients = static_cast<int>(*clients_flag), calls = static_cast<int>(*calls_flag);
  char tmpl[] = "/tmp/khod-load.XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  Result<ChildProcess> k = ChildProcess::Start(
      {khod_bin, "--socket=" + dir + "/k.sock", "--state-dir=" + dir + "/state"}, false,
      dir + "/khod.log");
  if (!k.ok() || !KhodClient(dir + "/k.sock").WaitHealthy(std::chrono::seconds(10)).ok()) return 2;
  int memfd = ::memfd_create("load-guest", MFD_CLOEXEC);
  if (::ftruncate(memfd, 1 << 20) != 0) return 2;

  std::atomic<uint64_t> errors{0};
  std::vector<std::vector<double>> lat(clients);
  std::string first_error;
  std::mutex err_mu;
  const auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c)
    threads.emplace_back([&, c] {
      KhodClient client(dir + "/k.sock");  // one connection per client
      lat[c].reserve(calls);
      for (int i = 0; i < calls; ++i) {
        const auto s = Clock::now();
        Status st;
        if (i % 2 == 0) {
          st = client.GetStatus().status();
        } else {
          v1::AttachRequest q;
          q.set_name("c" + std::to_string(c));
          q.mutable_kernel()->set_pid(::getpid());
          q.mutable_kernel()->set_fd(memfd);
          Result<v1::AttachReply> a = client.Attach(q);
          st = a.ok() ? client.Detach(a->gmem().token()) : a.status();
        }
        lat[c].push_back(std::chrono::duration<double, std::micro>(Clock::now() - s).count());
        if (!st.ok()) {
          if (errors++ == 0) {
            std::lock_guard<std::mutex> l(err_mu);
            first_error = st.ToString();
          }
        }
      }
    });
  for (auto& t : threads) t.join();
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  std::vector<double> all;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  auto pct = [&](double p) { return all[static_cast<size_t>(p * (all.size() - 1))]; };
  std::printf(
      "%d clients x %d calls (Status | Attach+Detach alternating): %zu calls in %.2f s (%.0f/s)\n",
      clients, calls, all.size(), secs, all.size() / secs);
  std::printf("errors %llu (target 0)%s%s\n", static_cast<unsigned long long>(errors.load()),
              first_error.empty() ? "" : ", first: ", first_error.c_str());
  std::printf("latency p50 %.0f us, p99 %.0f us, max %.0f us\n", pct(0.50), pct(0.99), all.back());
  // Per kind: even calls are Status, odd ones Attach+Detach (two durable changes).
  for (int kind = 0; kind < 2; ++kind) {
    std::vector<double> v;
    for (auto& per : lat)
      for (size_t i = kind; i < per.size(); i += 2) v.push_back(per[i]);
    std::sort(v.begin(), v.end());
    if (v.empty()) continue;
    std::printf("  %-14s p50 %.0f us, p99 %.0f us\n", kind ? "Attach+Detach" : "Status",
                v[v.size() / 2], v[static_cast<size_t>(0.99 * (v.size() - 1))]);
  }
  k->Stop(SIGTERM);
  std::error_code ignored;  // a leftover dir is no reason to fail the bench
  std::filesystem::remove_all(dir, ignored);
  return errors ? 1 : 0;
}
