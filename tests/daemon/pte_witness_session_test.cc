// The PTE keeper through a session and a reexec (capture/pte_witness.h,
// daemon/pte_witness_handoff.h), in this process: Prepare starts a keeper
// over the guest_memfd's pages; Freeze walks only the holes; the exec argv
// hands the keeper and its witness on (--pte-keeper=PID:FD:W); the new side,
// with a mapping holder as a reexec leaves one, verifies without walking the
// witnessed pages, and lets the keeper go after its verdict. A punch between
// Freeze and Verify ends the witness: Verify walks and reports it.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/numbers.h"
#include "handover/reexec_transport.h"
#include "tests/daemon/verify_verdict.h"
#include "tests/support/pfns_visible.h"
#include "tests/support/session_fixture.h"
#include "tests/support/test_guest_memfd.h"

namespace khod {
namespace {

constexpr uint64_t kPage = 4096, kPages = 256, kUsed = 200;

class PteWitnessSessionTest : public SessionTest {
 protected:
  void SetUp() override {
    if (!PfnsVisible()) GTEST_SKIP() << "needs root outside a user namespace: PFNs";
    Result<TestGuestMemfd> g = TestGuestMemfd::Make(kPages * kPage);
    KHOD_GUEST_MEMFD_OR_SKIP(g);
    gmem_.emplace(std::move(*g));
    void* m = ::mmap(nullptr, kPages * kPage, PROT_READ | PROT_WRITE, MAP_SHARED, gmem_->fd(), 0);
    ASSERT_NE(m, MAP_FAILED);
    vmm_ = static_cast<uint8_t*>(m);
    for (uint64_t p = 0; p < kUsed; ++p) vmm_[p * kPage] = static_cast<uint8_t>(p + 1);
  }
  void TearDown() override {
    if (vmm_) ::munmap(vmm_, kPages * kPage);
  }

  // Attach, Prepare and a REEXEC Freeze in `old_`; the new side opened as
  // the re-executed khod would be, with a mapping holder of this process.
  std::unique_ptr<Session> HandOver() {
    Result<std::unique_ptr<Session>> old = Session::Open(Opts(), &opener_);
    if (!old.ok()) return nullptr;
    old_ = std::move(*old);  // kept: its mapping is what the holder holds
    v1::AttachRequest q = KernelAttach(gmem_->fd());
    q.set_gmem_flags(TestGuestMemfd::kDefaultFlags);
    if (!AttachPrepareReexecFreeze(old_.get(), q, &prepared_, &frozen_)) return nullptr;
    SessionOptions n = NewSideOpts(exec_argv_);
    keeper_arg_ = ExecArg(exec_argv_, "--pte-keeper");
    std::vector<int> k;
    for (size_t at = 0; at <= keeper_arg_.size();) {
      const size_t colon = std::min(keeper_arg_.find(':', at), keeper_arg_.size());
      if (std::optional<int> x = ParseInt(keeper_arg_.substr(at, colon - at))) k.push_back(*x);
      at = colon + 1;
    }
    EXPECT_EQ(k.size(), 3u) << "--pte-keeper=" << keeper_arg_;
    if (k.size() != 3) return nullptr;
    keeper_pid_ = k[0];
    n.pte_keeper = k[0];
    n.pte_keeper_fd = k[1];
    n.pte_witness_fd = k[2];
    return OpenNewSideWithHolder(std::move(n));
  }

  bool KeeperGone() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (::kill(keeper_pid_, 0) == 0 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return ::kill(keeper_pid_, 0) != 0;
  }

  std::optional<TestGuestMemfd> gmem_;
  uint8_t* vmm_ = nullptr;
  std::unique_ptr<Session> old_;
  std::string prepared_, frozen_, keeper_arg_;
  pid_t keeper_pid_ = -1;
};

TEST_F(PteWitnessSessionTest, FreezeAndVerifyWalkOnlyWhatTheKeeperDoesNotMap) {
  std::unique_ptr<Session> s = HandOver();
  ASSERT_TRUE(s);
  EXPECT_NE(prepared_.find("PTE keeper pid " + std::to_string(keeper_pid_) + " maps " +
                           std::to_string(kUsed) + " pages"),
            std::string::npos)
      << prepared_;
  EXPECT_NE(frozen_.find("change scan walked the PTEs of " + std::to_string(kPages - kUsed) +
                         " pages, " + std::to_string(kUsed) + " witnessed by the PTE keeper"),
            std::string::npos)
      << frozen_;
  ASSERT_EQ(s->phase(), v1::HANDED_OVER) << s->recovery();
  ASSERT_TRUE(s->Restore(v1::RestoreRequest()).ok());
  Result<v1::VerifyReply> v = s->Verify();
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(VerdictAndKinds(*v), UnchangedGuestMemfdAttachVerdict()) << FirstDifferenceOf(*v);
  EXPECT_EQ(v->real_pages_witnessed(), kUsed);
  EXPECT_TRUE(KeeperGone()) << "keeper pid " << keeper_pid_ << " outlived the verdict";
}

TEST_F(PteWitnessSessionTest, APunchAfterFreezeIsFoundByVerify) {
  std::unique_ptr<Session> s = HandOver();
  ASSERT_TRUE(s);
  ASSERT_EQ(s->phase(), v1::HANDED_OVER) << s->recovery();
  ASSERT_TRUE(s->Restore(v1::RestoreRequest()).ok());
  ASSERT_EQ(
      ::fallocate(gmem_->fd(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 10 * kPage, 3 * kPage),
      0);
  vmm_[11 * kPage] = 7;  // one of them again: a new folio where the frozen one was
  Result<v1::VerifyReply> v = s->Verify();
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_GT(v->differences_size(), 0);
  EXPECT_EQ(v->real_pages_witnessed(), 0u) << "the keeper saw the punch";
}

}  // namespace
}  // namespace khod
