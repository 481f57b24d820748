// KhodProcessTest: the real khod binary (daemon/khod) as a child of the test,
// on a socket and state dir in a TempDir of the test's own, and a 1 MiB memfd
// of this test process that plays the VMM's guest memory (khod takes it with
// pidfd_getfd): the fixture of the crash tests, which kill khod and start it
// again on the same state dir.
#ifndef KHOD_TESTS_SUPPORT_KHOD_FIXTURE_H_
#define KHOD_TESTS_SUPPORT_KHOD_FIXTURE_H_

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "khoctl/client.h"
#include "tests/support/fixture.h"
#include "tools/rehearsal/child_process.h"

namespace khod {

class KhodProcessTest : public ::testing::Test {
 protected:
  static constexpr const char* kKhod = "daemon/khod";  // in the test's runfiles
  static constexpr size_t kGuestBytes = 1 << 20;

  // `label` names the TempDir, `transport` is khod's --transport, and
  // StartKhod waits up to `start_timeout` for it to serve.
  KhodProcessTest(std::string_view label, std::string transport, std::chrono::seconds start_timeout)
      : tmp_(label, TempDir::Use::kSocket),
        transport_(std::move(transport)),
        start_timeout_(start_timeout) {}

  std::string Socket() const { return dir_ + "/k.sock"; }
  std::string StateDir() const { return dir_ + "/state"; }

  // khod as systemd starts it (the same command line every time: flags_
  // after the fixed ones), with a test fault when given one (--crash-at), its
  // stderr in khod.log; returns once it serves, or at once when not `serves`.
  ChildProcess StartKhod(const std::string& crash_at = "", bool serves = true) {
    std::vector<std::string> argv = {kKhod, "--socket=" + Socket(), "--state-dir=" + StateDir(),
                                     "--transport=" + transport_};
    argv.insert(argv.end(), flags_.begin(), flags_.end());
    if (!crash_at.empty()) argv.push_back("--crash-at=" + crash_at);
    Result<ChildProcess> c = ChildProcess::Start(argv, false, dir_ + "/khod.log");
    EXPECT_TRUE(c.ok());
    if (serves) {
      Status healthy = KhodClient(Socket()).WaitHealthy(start_timeout_);
      EXPECT_TRUE(healthy.ok()) << "khod does not start: " << healthy.ToString();
    }
    return std::move(*c);
  }

  // The guest memory, this process's memfd, hashed.
  v1::AttachRequest Attach() const {
    v1::AttachRequest q;
    q.set_name("guest");
    q.mutable_kernel()->set_pid(::getpid());
    q.mutable_kernel()->set_fd(memfd_);
    q.set_hash_contents(true);
    return q;
  }

  std::vector<std::string> flags_;  // khod's flags besides the fixed ones
  TempDir tmp_;
  const std::string dir_ = tmp_.path();
  TestMemfd guest_{kGuestBytes, "vmm-guest"};
  const int memfd_ = guest_.fd();

 private:
  const std::string transport_;
  const std::chrono::seconds start_timeout_;
};

}  // namespace khod

#endif  // KHOD_TESTS_SUPPORT_KHOD_FIXTURE_H_
