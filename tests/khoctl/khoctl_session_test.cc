// khoctl drives a whole live update through the real khod binary, as an
// operator would: attach -> prepare -> freeze --transport dir -> restore ->
// verify -> finish, with each command's exit code and output checked; and the
// refusals: freeze without --guests-paused, khod's FAILED_PRECONDITION for a
// wrong phase or an empty session, no daemon on the socket. The "VMM" is a
// child process holding a memfd that khod takes with pidfd_getfd.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "kernel/probe.h"
#include "khoctl/client.h"
#include "serializer/serializer.h"
#include "tests/support/fixture.h"
#include "tools/rehearsal/child_process.h"

namespace khod {
namespace {

std::string Read(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

bool Has(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

struct Cli {
  int code = -1;
  std::string out, err;
};

// A VMM stand-in: a child with a 1 MiB memfd of 32 written pages. It writes
// the fd number, then on each 'w' overwrites page 0 and answers 'k'.
class MemfdVmm {
 public:
  MemfdVmm() {
    int ready[2], cmd[2];
    if (::pipe(ready) != 0 || ::pipe(cmd) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(ready[0]);
      ::close(cmd[1]);
      const TestMemfd guest(1 << 20, "guest");  // the child's, until it exits
      const int fd = guest.fd();
      char page[4096];
      std::memset(page, 0x33, sizeof page);
      for (int i = 0; i < 32; ++i)
        if (::pwrite(fd, page, sizeof page, i * 8192) != 4096) ::_exit(1);
      if (::write(ready[1], &fd, sizeof fd) != sizeof fd) ::_exit(1);
      char c;
      while (::read(cmd[0], &c, 1) == 1) {
        std::memset(page, 0x44, sizeof page);
        if (::pwrite(fd, page, sizeof page, 0) != 4096 || ::write(ready[1], "k", 1) != 1)
          ::_exit(1);
      }
      ::_exit(0);
    }
    ::close(ready[1]);
    ::close(cmd[0]);
    from_ = ready[0];
    to_ = cmd[1];
    if (::read(from_, &fd_, sizeof fd_) != sizeof fd_) fd_ = -1;
  }
  ~MemfdVmm() {
    ::close(to_);
    ::close(from_);
    if (pid_ > 0) ::waitpid(pid_, nullptr, 0);
  }
  bool Overwrite() {
    char c = 0;
    return ::write(to_, "w", 1) == 1 && ::read(from_, &c, 1) == 1 && c == 'k';
  }
  pid_t pid() const { return pid_; }
  int fd() const { return fd_; }

 private:
  pid_t pid_ = -1;
  int fd_ = -1, from_ = -1, to_ = -1;
};

class KhoctlSessionTest : public ::testing::Test {
 protected:
  std::string Socket() const { return dir_ + "/k.sock"; }
  ChildProcess StartKhod() {
    Result<ChildProcess> c = ChildProcess::Start(
        {"daemon/khod", "--socket=" + Socket(), "--state-dir=" + dir_ + "/state"}, false,
        dir_ + "/khod.log");
    EXPECT_TRUE(c.ok());
    EXPECT_TRUE(KhodClient(Socket()).WaitHealthy(std::chrono::seconds(10)).ok());
    return std::move(*c);
  }
  // khoctl ARGS --socket SOCKET under a timeout (a hang is exit 124), with
  // `env` (VAR=VALUE ...) before it; its stdout into `to` when one is given
  // (out is then empty).
  Cli Khoctl(const std::string& args, bool socket = true, const std::string& env = "",
             const std::string& to = "") {
    const std::string o = dir_ + "/out", e = dir_ + "/err";
    const std::string cmd = "env " + env + " timeout 60 khoctl/khoctl " + args +
                            (socket ? " --socket " + Socket() : "") + " >" + (to.empty() ? o : to) +
                            " 2>" + e;
    ::unlink(o.c_str());
    const int st = std::system(cmd.c_str());
    return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, Read(o), Read(e)};
  }
  // khoctl ARGS exits `code` and its stdout (0, 1) or stderr (2) holds every part.
  ::testing::AssertionResult Runs(const std::string& args, int code,
                                  const std::vector<std::string>& parts) {
    const Cli r = Khoctl(args);
    const std::string& text = code == 2 ? r.err : r.out;
    bool ok = r.code == code;
    for (const std::string& p : parts) ok &= Has(text, p);
    if (ok) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "khoctl " << args << ": exit " << r.code << " (want "
                                         << code << ")\nstdout: " << r.out << "stderr: " << r.err;
  }
  TempDir tmp_{"khoctl-session", TempDir::Use::kSocket};
  const std::string dir_ = tmp_.path();
};

TEST_F(KhoctlSessionTest, WholeLiveUpdateOverTheCli) {
  MemfdVmm vmm;
  ASSERT_GE(vmm.fd(), 0);
  ChildProcess khod = StartKhod();

  // Nothing attached: khod's refusal, with its gRPC code.
  EXPECT_TRUE(Runs("prepare", 2, {"khod said FAILED_PRECONDITION", "no gmem attached"}));

  // The name comes from the VMM's declaration file.
  std::ofstream(dir_ + "/decl.json")
      << "{\"files\":[{\"fd\":" << vmm.fd() << ",\"flags\":0,\"name\":\"ram0\"}]}";
  const std::string fd = std::to_string(vmm.fd());
  ASSERT_TRUE(Runs("attach --pid " + std::to_string(vmm.pid()) + " --fd " + fd + " --memslots " +
                       dir_ + "/decl.json --hash",
                   0,
                   {"attached gmem 1 'ram0': 1.0 MiB, shmem-memfd fd " + fd,
                    "pid " + std::to_string(vmm.pid())}));

  // A MODEL guest too, attached and detached again.
  ASSERT_TRUE(
      Runs("attach --model-size 64M --model-hstate 2m --name spare", 0,
           {"attached gmem 2 'spare'", "MODEL guest_memfd 'spare' (64 MiB, hugetlb 2 MiB)"}));
  EXPECT_TRUE(Runs("detach --token 2", 0, {"detached gmem 2"}));
  EXPECT_TRUE(Runs("detach --token 2", 2, {"khod said NOT_FOUND"}));

  // Freeze before Prepare: khod names the phase it needs.
  EXPECT_TRUE(Runs("freeze --guests-paused --transport dir", 2,
                   {"FAILED_PRECONDITION: Freeze needs phase PREPARED, session is IDLE"}));
  ASSERT_TRUE(Runs("prepare", 0, {"PREPARED: prepared 1 gmems"}));
  // Whose session it is, and each gmem's owner: the uid that attached it.
  EXPECT_TRUE(
      Runs("status", 0,
           {"owner        uid 0 (root)\n", "  1 'ram0' kernel shmem-memfd", ", owner uid 0\n"}));
  EXPECT_TRUE(Runs("fds", 0,
                   {"TOKEN  NAME             KIND           PID      FD     OWNER\n",
                    "1      ram0             shmem-memfd    "}));
  EXPECT_TRUE(Runs("fds", 0, {"-      0\n"}));

  // Without --guests-paused khoctl refuses by itself and says why.
  EXPECT_TRUE(Runs("freeze --transport dir", 2,
                   {"pause every guest first", "capture of running guests is not a final one"}));
  EXPECT_TRUE(Runs("status", 0, {"PREPARED"})) << "a refused freeze changed the phase";

  ASSERT_TRUE(Runs("freeze --guests-paused --transport dir --format proto --dir pmem0", 0,
                   {"HANDED_OVER:", "PROTO blob", "handed over by dir"}));
  ASSERT_TRUE(Runs("restore --no-verify", 0, {"RESTORED"}));
  // verify with no snapshot and no --pid asks khod.
  // 32 resident pages of a shmem memfd: real memory, said as such, no MODEL
  // part; PFNs claimed only where pagemap shows them (not in a sandbox).
  // Where it hides them, their PFNs and folio flags were not compared: NOT
  // VERIFIED, exit 3, never EQUAL.
  if (ProbeKernel().pfns_readable) {
    EXPECT_TRUE(
        Runs("verify", 0, {"EQUAL: 32 real PFNs (shmem-memfd) and 32 content hashes unchanged\n"}));
    EXPECT_TRUE(
        Runs("status", 0,
             {"verdict      equal: 32 real PFNs (shmem-memfd) and 32 content hashes unchanged\n"}));
  } else {
    const std::string real =
        "32 real pages (shmem-memfd), 0 of them with a known PFN, and 32 content hashes "
        "unchanged";
    const std::string why =
        "gmem 0x1 'ram0': 32 pages: resident on both sides compared, not their PFNs or folio "
        "flags (PFN not seen by either capture: ";
    EXPECT_TRUE(
        Runs("verify", 3,
             {"NOT VERIFIED: no difference where observable; " + real + "\n",
              "  pages: 224 equal, 0 different, 32 not verified\n", "  not verified: " + why}));
    EXPECT_TRUE(
        Runs("status", 0,
             {"verdict      no difference where observable (" + real + "); not verified: " + why}));
  }

  // The guest's memory changes under khod: the diff, exit 1 (alias too).
  ASSERT_TRUE(vmm.Overwrite());
  EXPECT_TRUE(Runs("verify-restore", 1, {"DIFFERENT", "\n  gmem 0x1 'ram0': "}));
  // A verdict with a difference takes VERIFIED back: Finish is refused, and
  // says what is left.
  EXPECT_TRUE(Runs("status", 0, {"RESTORED"}));
  EXPECT_TRUE(Runs("finish", 2,
                   {"khod said FAILED_PRECONDITION",
                    "Finish needs phase VERIFIED, session is RESTORED (next: Verify; a verdict "
                    "with a difference stays RESTORED: Verify again, or Cancel)"}));
  // The way out of it: Cancel.
  EXPECT_TRUE(Runs("cancel", 0, {"IDLE: cancelled from RESTORED"}));
  EXPECT_TRUE(Runs("finish", 2,
                   {"khod said FAILED_PRECONDITION",
                    "Finish needs phase VERIFIED, session is IDLE (Attach, then Prepare)"}));
}

TEST_F(KhoctlSessionTest, ReexecFreezeWaitsForTheNewKhod) {
  MemfdVmm vmm;
  ASSERT_GE(vmm.fd(), 0);
  ChildProcess khod = StartKhod();
  ASSERT_TRUE(
      Runs("attach --hash --pid " + std::to_string(vmm.pid()) + " --fd " + std::to_string(vmm.fd()),
           0, {"attached gmem 1"}));
  ASSERT_TRUE(Runs("prepare", 0, {"PREPARED"}));
  EXPECT_FALSE(Has(Khoctl("status").out, "\nreexec "))
      << "a khod started by hand shows a reexec timeline";
  // freeze returns once the re-executed khod answers, so restore finds it.
  ASSERT_TRUE(Runs("freeze --guests-paused --transport reexec", 0,
                   {"handed over by reexec",
                    "new khod serving (pid " + std::to_string(khod.pid()) + ", reexecs 1)"}));
  // The new khod's startup steps, from the old khod's handover.
  EXPECT_TRUE(Runs("status", 0,
                   {"reexec       stop ", " ms, exec ", " ms, open ", " ms, serve ",
                    " ms from handover to serving\n"}));
  if (ProbeKernel().pfns_readable)
    EXPECT_TRUE(Runs("restore", 0, {"RESTORED", "EQUAL: 32 real PFNs (shmem-memfd)"}));
  else  // PFNs pagemap hides are not compared: not verified, exit 3
    EXPECT_TRUE(Runs("restore", 3,
                     {"RESTORED",
                      "NOT VERIFIED: no difference where observable; 32 real pages "
                      "(shmem-memfd), 0 of them with a known PFN",
                      "32 pages: resident on both sides compared, not their PFNs"}));
}

// `khoctl snapshot -o ks.blob` names the file by the token khod attached it
// as (1), a capture now by its inode: offline verify pairs them by inode and
// kind (before, "no --fd names the snapshot's 'ram0' (token 1)", exit 2).
// -o /dev/stdout is the blob alone: its "wrote N bytes" on stderr (before, it
// followed the blob on stdout).
TEST_F(KhoctlSessionTest, OfflineVerifyOfKhodsSnapshotPairsItsFilesByInode) {
  // The VMM is this test: two memfds with pages written, one attached
  // without --name (khod's blob names it '', a capture now would name it by
  // its memfd, "guest"; declared as the blob declares it, the same).
  const TestMemfd ram0(1 << 20, "ram0"), unnamed(1 << 20, "guest");
  for (int f : {ram0.fd(), unnamed.fd()})
    for (int i = 0; i < 8; ++i) ASSERT_EQ(::pwrite(f, "page", 4, i * 8192), 4);
  ChildProcess khod = StartKhod();
  const std::string pid = std::to_string(::getpid());
  const std::string fd = std::to_string(ram0.fd()), fd2 = std::to_string(unnamed.fd());
  ASSERT_TRUE(Runs("attach --pid " + pid + " --fd " + fd + " --name ram0", 0, {"attached gmem 1"}));
  ASSERT_TRUE(Runs("attach --pid " + pid + " --fd " + fd2, 0, {"attached gmem 2 ''"}));
  ASSERT_TRUE(Runs("prepare", 0, {"PREPARED"}));
  const std::string blob = dir_ + "/ks.blob";
  ASSERT_TRUE(Runs("snapshot -o " + blob, 0, {}));

  // Through a pipe, as `khoctl snapshot -o /dev/stdout | wc -c`.
  const std::string piped = dir_ + "/piped", err = dir_ + "/piped.err";
  const std::string cmd = "bash -c 'timeout 60 khoctl/khoctl snapshot -o /dev/stdout --socket " +
                          Socket() + " 2>" + err + " | cat >" + piped + "; exit ${PIPESTATUS[0]}'";
  const int st = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st << " " << Read(err);
  EXPECT_EQ(Read(piped), Read(blob)) << "stderr: " << Read(err);
  EXPECT_TRUE(Has(Read(err), "wrote " + std::to_string(Read(blob).size()) + " bytes")) << Read(err);
  Snapshot snap;
  const Status decoded = DecodeAny(Read(piped), &snap);
  ASSERT_TRUE(decoded.ok()) << decoded.ToString();
  ASSERT_EQ(snap.gmems.size(), 2u);
  EXPECT_EQ(snap.gmems[0].token, 1u);
  EXPECT_EQ(snap.gmems[1].token, 2u);
  EXPECT_EQ(snap.gmems[1].name, "");
  ASSERT_NE(snap.gmems[0].inode, 1u) << "the test needs a token that is not the inode";

  // Nothing changed since: no difference (EQUAL, or NOT VERIFIED for what
  // the capture could not see or hash), never exit 2.
  const std::string both = "verify " + blob + " --pid " + pid + " --fd " + fd + " --fd " + fd2;
  Cli r = Khoctl(both + " --json", false);
  EXPECT_TRUE(r.code == 0 || r.code == 3) << r.code << "\n" << r.out << r.err;
  EXPECT_FALSE(Has(r.err, "no --fd names")) << r.err;
  EXPECT_TRUE(Has(r.out, "\"differences\":[]")) << r.out;
  EXPECT_FALSE(Has(r.out, "DIFFERENT")) << r.out;
  r = Khoctl(both, false);
  EXPECT_TRUE(r.code == 0 || r.code == 3) << r.code << "\n" << r.out << r.err;
  EXPECT_FALSE(Has(r.out, "name: expected")) << r.out;

  // A file of the blob no --fd is: named with its inode, and the fds' inodes.
  r = Khoctl("verify " + blob + " --pid " + pid + " --fd " + fd, false);
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_TRUE(Has(r.err, "no --fd names the snapshot's '' (token 2, shmem-memfd inode " +
                             std::to_string(snap.gmems[1].inode) + ") (fd " + fd + " is inode " +
                             std::to_string(snap.gmems[0].inode) + "; "))
      << r.err;
  // An fd that is none of the blob's files: said with the inodes on both sides.
  const TestMemfd other(4096, "other");
  struct stat st_other;
  ASSERT_EQ(::fstat(other.fd(), &st_other), 0);
  r = Khoctl("verify " + blob + " --pid " + pid + " --fd " + std::to_string(other.fd()), false);
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_TRUE(Has(r.err, "shmem-memfd inode " + std::to_string(st_other.st_ino) +
                             ") is none of the snapshot's guest_memfds, matched by kind and inode: "
                             "'ram0' (token 1, shmem-memfd inode " +
                             std::to_string(snap.gmems[0].inode) + "), '' (token 2, "))
      << r.err;
}

// Output no one received is an error, whatever the verdict: stdout on
// /dev/full (before, exit 0 with nothing written).
TEST_F(KhoctlSessionTest, OutputThatCannotBeWrittenIsAnError) {
  if (::access("/dev/full", W_OK) != 0) GTEST_SKIP() << "no /dev/full here";
  MemfdVmm vmm;
  ASSERT_GE(vmm.fd(), 0);
  ChildProcess khod = StartKhod();
  const std::string pid = std::to_string(vmm.pid()), fd = std::to_string(vmm.fd());
  ASSERT_TRUE(Runs("attach --pid " + pid + " --fd " + fd, 0, {"attached gmem 1"}));
  ASSERT_TRUE(Runs("prepare", 0, {"PREPARED"}));
  const std::string blob = dir_ + "/ks.blob";
  ASSERT_TRUE(Runs("snapshot -o " + blob, 0, {}));
  const std::string no_room = "khoctl: cannot write the output: No space left on device\n";
  for (const char* args : {"status --json", "status", "fds --json"}) {
    Cli r = Khoctl(args, true, "", "/dev/full");
    EXPECT_EQ(r.code, 2) << args << ": " << r.err;
    EXPECT_EQ(r.err, no_room) << args;
  }
  // The offline verify's verdict (0 or 3) printed nowhere.
  for (const std::string json : {" --json", ""}) {
    Cli r =
        Khoctl("verify " + blob + " --pid " + pid + " --fd " + fd + json, false, "", "/dev/full");
    EXPECT_EQ(r.code, 2) << json << ": " << r.err;
    EXPECT_TRUE(Has(r.err, no_room)) << json << ": " << r.err;
  }
}

// A khod that takes the connection and never answers (stopped): the call
// ends at khoctl's own deadline (KHOCTL_CALL_TIMEOUT), said as such, never
// as something khod said (before: "khod said INTERNAL: Verify: Deadline
// Exceeded (gRPC code 4)" after 120 s).
TEST_F(KhoctlSessionTest, AStoppedKhodIsNotSaidToHaveAnswered) {
  ChildProcess khod = StartKhod();
  ASSERT_TRUE(Runs("attach --model-size 16M", 0, {"attached gmem 1"}));
  ASSERT_EQ(::kill(khod.pid(), SIGSTOP), 0);
  const auto start = std::chrono::steady_clock::now();
  Cli verify = Khoctl("verify", true, "KHOCTL_CALL_TIMEOUT=1");
  Cli prepare = Khoctl("prepare", true, "KHOCTL_CALL_TIMEOUT=1");
  Cli status = Khoctl("status --json", true, "KHOCTL_CALL_TIMEOUT=1");
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_EQ(::kill(khod.pid(), SIGCONT), 0);
  EXPECT_EQ(verify.code, 2) << verify.err;
  EXPECT_EQ(verify.err,
            "khoctl verify: khod did not answer Verify within 1 s (is it stopped or busy?); it may "
            "have completed the call: read `khoctl status` before retrying\n");
  EXPECT_EQ(prepare.code, 2) << prepare.err;
  EXPECT_TRUE(Has(prepare.err, "khoctl prepare: khod did not answer Prepare within 1 s"))
      << prepare.err;
  EXPECT_EQ(status.code, 2) << status.err;
  EXPECT_EQ(status.err,
            "khoctl status: khod did not answer GetStatus within 1 s (is it stopped or busy?); "
            "try again once it answers\n");
  EXPECT_EQ(status.out, "");
  EXPECT_LT(took, std::chrono::seconds(20));
  // Running again, it answers: the prepare may have been carried out, as said.
  EXPECT_TRUE(Runs("status", 0, {"phase        "}));
  // A deadline that is no number of seconds is refused before any call.
  for (const char* bad : {"0", "x", "1.5", "86401"}) {
    Cli r = Khoctl("status", true, std::string("KHOCTL_CALL_TIMEOUT=") + bad);
    EXPECT_EQ(r.code, 2) << bad;
    EXPECT_TRUE(Has(r.err, "khoctl: KHOCTL_CALL_TIMEOUT '")) << bad << ": " << r.err;
  }
  // A command that calls no khod does not read it.
  Cli help = Khoctl("help", false, "KHOCTL_CALL_TIMEOUT=x");
  EXPECT_EQ(help.code, 0) << help.err;
  Cli probe = Khoctl("probe", false, "KHOCTL_CALL_TIMEOUT=x");
  EXPECT_EQ(probe.code, 0) << probe.err;
}

TEST_F(KhoctlSessionTest, CancelGoesBackToIdle) {
  ChildProcess khod = StartKhod();
  ASSERT_TRUE(Runs("attach --model-size 16M --populate", 0, {"attached gmem 1"}));
  ASSERT_TRUE(Runs("prepare", 0, {"PREPARED"}));
  EXPECT_TRUE(Runs("cancel", 0, {"IDLE: cancelled from PREPARED"}));
}

TEST_F(KhoctlSessionTest, NoDaemonOnTheSocket) {
  const std::vector<std::string> commands = {"prepare",
                                             "finish",
                                             "cancel",
                                             "verify",
                                             "detach --token 1",
                                             "freeze --guests-paused",
                                             "attach --model-size 1G",
                                             "status",
                                             "restore",
                                             "snapshot -o " + dir_ + "/s.fdt"};
  for (const std::string& cmd : commands)
    EXPECT_TRUE(Runs(cmd, 2, {"cannot reach khod at " + Socket()}));
}

// Without --socket khoctl calls on root's socket as root and on the group's
// otherwise (khod --allow-gid gives the group a socket of its own).
TEST(KhoctlDefaultSocketTest, RootCallsOnRootsSocketAnyoneElseOnTheGroups) {
  EXPECT_EQ(DefaultSocketFor(0), "/run/khod/khod.sock");
  EXPECT_EQ(DefaultSocketFor(65534), "/run/khod/khod.sock.group");
  EXPECT_EQ(DefaultSocketFor(1000), kGroupSocket);
  EXPECT_EQ(DefaultSocket(), ::geteuid() == 0 ? kRootSocket : kGroupSocket);
}

TEST_F(KhoctlSessionTest, OfflineVerifyKeepsItsForm) {
  // A snapshot argument means the offline form, which never calls khod.
  Cli r = Khoctl("verify " + dir_ + "/missing.fdt --pid 1 --fd 0", /*socket=*/false);
  EXPECT_EQ(r.code, 2);
  EXPECT_FALSE(Has(r.err, "cannot reach khod")) << r.err;
  EXPECT_TRUE(Has(r.err, "missing.fdt")) << r.err;
}

TEST_F(KhoctlSessionTest, BadArgumentsAreRefusedLocally) {
  EXPECT_TRUE(Runs("attach --pid 1", 2, {"--pid and --fd go together"}));
  EXPECT_TRUE(Runs("attach --model-size 1T --model-hstate 3m", 2, {"'3m' is not 4k, 2m or 1g"}));
  EXPECT_TRUE(
      Runs("freeze --guests-paused --transport floppy", 2, {"'floppy' is not dir, reexec or luo"}));
  EXPECT_TRUE(Runs("detach", 2, {"--token T is required"}));
}

}  // namespace
}  // namespace khod
