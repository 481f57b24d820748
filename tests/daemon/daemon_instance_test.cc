// One khod per state dir and per socket (issue 11 item 12), with the real
// binary: a second khod on the same state dir or on the same socket stops at
// start-up saying why, while the first keeps answering; a --socket naming a
// regular file is refused and the file kept.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "khoctl/client.h"
#include "tests/support/fixture.h"
#include "tools/rehearsal/child_process.h"

namespace khod {
namespace {

bool Has(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

std::string Slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

class InstanceTest : public ::testing::Test {
 protected:
  // Runs a khod expected to refuse to start: its exit code (it must exit
  // on its own within 20 s) and what it said.
  int RunRefused(const std::vector<std::string>& args, std::string* said) {
    const std::string log = dir_ + "/refused.log";
    std::vector<std::string> argv = {"daemon/khod"};
    argv.insert(argv.end(), args.begin(), args.end());
    Result<ChildProcess> c = ChildProcess::Start(argv, false, log);
    EXPECT_TRUE(c.ok());
    if (!c.ok()) return -1;
    bool exited = false;
    for (int i = 0; i < 200 && !exited; ++i) {
      siginfo_t si{};  // not reaped here: Wait() below does
      exited =
          ::waitid(P_PID, c->pid(), &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == c->pid();
      if (!exited) ::usleep(100 * 1000);
    }
    if (!exited) {
      c->Stop(SIGKILL);
      *said = "still running after 20 s";
      return -1;
    }
    const int st = c->Wait();
    *said = Slurp(log);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }
  TempDir tmp_{"instance-test", TempDir::Use::kSocket};
  const std::string dir_ = tmp_.path();
};

TEST_F(InstanceTest, ASecondKhodOnTheSameStateDirOrSocketRefusesWhileTheFirstAnswers) {
  const std::string sock = dir_ + "/k.sock", state = dir_ + "/state";
  Result<ChildProcess> first = ChildProcess::Start(
      {"daemon/khod", "--socket=" + sock, "--state-dir=" + state}, false, dir_ + "/first.log");
  ASSERT_TRUE(first.ok());
  KhodClient client(sock);
  ASSERT_TRUE(client.WaitHealthy(std::chrono::seconds(10)).ok());
  Result<v1::StatusReply> before = client.GetStatus();
  ASSERT_TRUE(before.ok()) << before.status().ToString();

  std::string said;
  // Same state dir, another socket: the lock stops it before it binds.
  EXPECT_EQ(RunRefused({"--socket=" + dir_ + "/other.sock", "--state-dir=" + state}, &said), 2);
  EXPECT_TRUE(Has(said, "another khod (pid " + std::to_string(first->pid()) + ") holds " + state +
                            "/khod.lock"))
      << said;
  struct stat st;
  EXPECT_NE(::lstat((dir_ + "/other.sock").c_str(), &st), 0) << "the refused khod bound a socket";

  // Same socket, another state dir: it must not take the first one's socket.
  EXPECT_EQ(RunRefused({"--socket=" + sock, "--state-dir=" + dir_ + "/state2"}, &said), 2);
  EXPECT_TRUE(Has(said, "another khod serves " + sock)) << said;

  // The first still answers, on the same socket, as the same process.
  Result<v1::StatusReply> after = client.GetStatus();
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_EQ(after->pid(), before->pid());
  EXPECT_EQ(first->Stop(SIGTERM), 0);

  // Once it is gone, its stale socket is replaced by the next khod.
  Result<ChildProcess> next = ChildProcess::Start(
      {"daemon/khod", "--socket=" + sock, "--state-dir=" + state}, false, dir_ + "/next.log");
  ASSERT_TRUE(next.ok());
  EXPECT_TRUE(client.WaitHealthy(std::chrono::seconds(10)).ok()) << Slurp(dir_ + "/next.log");
  next->Stop(SIGTERM);
}

// "Max open files   SOFT   HARD   files" of /proc/PID/limits.
bool OpenFileLimits(pid_t pid, std::string* soft, std::string* hard) {
  std::istringstream lines(Slurp("/proc/" + std::to_string(pid) + "/limits"));
  for (std::string line; std::getline(lines, line);)
    if (line.rfind("Max open files", 0) == 0) {
      std::istringstream words(line.substr(sizeof("Max open files") - 1));
      return static_cast<bool>(words >> *soft >> *hard);
    }
  return false;
}

// khod holds an fd or two per guest file: started with a low soft limit (as
// systemd's 1024), it raises it to the hard limit.
TEST_F(InstanceTest, TheSoftOpenFileLimitIsRaisedToTheHardOne) {
  rlimit saved;
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  if (saved.rlim_max <= 256) GTEST_SKIP() << "the hard limit is already low";
  rlimit low = saved;
  low.rlim_cur = 256;  // inherited by the khod started below
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  const std::string sock = dir_ + "/k.sock";
  Result<ChildProcess> khod =
      ChildProcess::Start({"daemon/khod", "--socket=" + sock, "--state-dir=" + dir_ + "/state"},
                          false, dir_ + "/khod.log");
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);
  ASSERT_TRUE(khod.ok());
  ASSERT_TRUE(KhodClient(sock).WaitHealthy(std::chrono::seconds(10)).ok());
  std::string soft, hard;
  ASSERT_TRUE(OpenFileLimits(khod->pid(), &soft, &hard));
  EXPECT_EQ(soft, hard);
  EXPECT_EQ(hard, std::to_string(saved.rlim_max));
  EXPECT_EQ(khod->Stop(SIGTERM), 0);
}

// The socket's directory is checked as the state dir is: one another user may
// write into (who could replace the socket there) stops khod before it binds.
TEST_F(InstanceTest, ASocketInADirectoryOthersMayWriteIntoIsRefused) {
  const std::string open_dir = dir_ + "/open";
  ASSERT_EQ(::mkdir(open_dir.c_str(), 0700), 0);
  ASSERT_EQ(::chmod(open_dir.c_str(), 0777), 0);
  std::string said;
  EXPECT_EQ(
      RunRefused({"--socket=" + open_dir + "/k.sock", "--state-dir=" + dir_ + "/state"}, &said), 2)
      << said;
  EXPECT_TRUE(Has(said, "the socket's directory")) << said;
  EXPECT_TRUE(Has(said, open_dir)) << said;
  struct stat st;
  EXPECT_NE(::lstat((open_dir + "/k.sock").c_str(), &st), 0) << "khod bound its socket there";
}

TEST_F(InstanceTest, ASocketPathNamingARegularFileIsRefusedAndTheFileKept) {
  const std::string file = dir_ + "/precious";
  std::ofstream(file) << "not a socket";
  std::string said;
  EXPECT_EQ(RunRefused({"--socket=" + file, "--state-dir=" + dir_ + "/state"}, &said), 2);
  EXPECT_TRUE(Has(said, file + " exists and is not a socket")) << said;
  EXPECT_EQ(Slurp(file), "not a socket");
}

// The fds a reexec hands on (--listen-fd, --group-listen-fd, --lock-fd,
// --adopt, --pte-keeper, --page-pins) are each one flag's: an fd named twice
// would be closed twice or taken as two things (the listening socket closed
// as a gmem). A command line naming one twice is refused before anything is
// opened, and so is a group socket that is root's, or one without a group.
TEST_F(InstanceTest, AnFdNamedByTwoReexecFlagsOrTwiceInAdoptIsRefused) {
  const std::vector<std::string> base = {"--socket=" + dir_ + "/k.sock",
                                         "--state-dir=" + dir_ + "/state"};
  struct Case {
    std::vector<std::string> flags;
    std::string said;
  };
  const std::vector<Case> cases = {
      {{"--adopt=1:7,2:7"}, "--adopt: fd 7 given twice"},
      {{"--adopt=blob:7,1:7"}, "--adopt: fd 7 given twice"},
      {{"--adopt=blob:1"}, "--adopt: fd 1 is stdin, stdout or stderr"},
      {{"--adopt=blob:9", "--listen-fd=9"}, "--listen-fd and --adopt both name fd 9"},
      {{"--adopt=blob:8,1:9", "--lock-fd=9"}, "--lock-fd and --adopt both name fd 9"},
      {{"--listen-fd=9", "--lock-fd=9"}, "--listen-fd and --lock-fd both name fd 9"},
      {{"--listen-fd=9", "--group-listen-fd=9"},
       "--listen-fd and --group-listen-fd both name fd 9"},
      {{"--adopt=blob:9", "--group-listen-fd=9"}, "--group-listen-fd and --adopt both name fd 9"},
      // Root's socket and the group's are two: never one path.
      {{"--allow-gid=65534", "--group-socket=" + dir_ + "/k.sock"},
       "--group-socket must differ from --socket"},
      {{"--group-socket=" + dir_ + "/g.sock"}, "--group-socket needs --allow-gid"},
      {{"--adopt=blob:8", "--pte-keeper=1:8:10"}, "--adopt and --pte-keeper both name fd 8"},
      {{"--adopt=blob:8", "--page-pins=1:8"}, "--adopt and --page-pins both name fd 8"},
      {{"--pte-keeper=1:9:10", "--page-pins=1:10"}, "--pte-keeper and --page-pins both name fd 10"},
      {{"--adopt=blob:8", "--bpf-programs=khod_vma_policy:8"},
       "--adopt and --bpf-programs both name fd 8"},
      {{"--bpf-programs=khod_vma_policy:8,khod_shared_policy:8"},
       "--bpf-programs: fd 8 given twice"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args = base;
    args.insert(args.end(), c.flags.begin(), c.flags.end());
    std::string said;
    EXPECT_EQ(RunRefused(args, &said), 2) << c.flags[0] << ": " << said;
    EXPECT_TRUE(Has(said, c.said)) << "wanted '" << c.said << "' in: " << said;
  }
  struct stat st;
  EXPECT_NE(::lstat((dir_ + "/k.sock").c_str(), &st), 0) << "a refused khod bound its socket";
}

// --reap (set by a reexec: kernel/child_reaper.h) names pids; a value that is not a list of
// them is refused by name before anything is opened.
TEST_F(InstanceTest, AReapValueThatIsNotPidsIsRefused) {
  const std::vector<std::string> base = {"--socket=" + dir_ + "/k.sock",
                                         "--state-dir=" + dir_ + "/state"};
  for (const char* bad : {"--reap=0", "--reap=12,x", "--reap="}) {
    std::vector<std::string> args = base;
    args.push_back(bad);
    std::string said;
    EXPECT_EQ(RunRefused(args, &said), 2) << bad << ": " << said;
    EXPECT_TRUE(Has(said, "--reap pid")) << bad << ": " << said;
  }
  struct stat st;
  EXPECT_NE(::lstat((dir_ + "/k.sock").c_str(), &st), 0) << "a refused khod bound its socket";
}

// --reap end to end: exec keeps a process's children, so a child that forks
// a grandchild and then execs khod stands for a reexec whose old khod let a
// child go. khod waits for the pid --reap names and reaps it once it exits;
// without it the grandchild would stay a zombie of khod.
TEST_F(InstanceTest, AKhodStartedWithReapReapsThatChildOnceItExits) {
  const std::string sock = dir_ + "/k.sock", state = dir_ + "/state", log = dir_ + "/reap.log";
  // Made before the fork: the child of this threaded process allocates nothing.
  const std::string a1 = "--socket=" + sock, a2 = "--state-dir=" + state;
  int told[2];
  ASSERT_EQ(::pipe2(told, O_CLOEXEC), 0);
  const pid_t khod = ::fork();
  ASSERT_GE(khod, 0);
  if (khod == 0) {
    // Released by the exec (close-on-exec): the child let go of exits
    // while khod starts, as a holder killed just before a reexec does.
    int release = -1;
    const pid_t let_go = ForkChildUntilReleased(&release);
    if (let_go < 0 || ::write(told[1], &let_go, sizeof(let_go)) != sizeof(let_go)) ::_exit(90);
    if (::fcntl(release, F_SETFD, FD_CLOEXEC) != 0) ::_exit(93);
    const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (out < 0 || ::dup2(out, STDERR_FILENO) < 0) ::_exit(91);
    char a3[32];
    std::snprintf(a3, sizeof(a3), "--reap=%d", static_cast<int>(let_go));
    char* argv[] = {const_cast<char*>("daemon/khod"), const_cast<char*>(a1.c_str()),
                    const_cast<char*>(a2.c_str()), a3, nullptr};
    ::execv("daemon/khod", argv);
    ::_exit(92);
  }
  ::close(told[1]);
  pid_t let_go = -1;
  ASSERT_EQ(::read(told[0], &let_go, sizeof(let_go)), static_cast<ssize_t>(sizeof(let_go)));
  ::close(told[0]);
  KhodClient client(sock);
  const bool served = client.WaitHealthy(std::chrono::seconds(10)).ok();
  const std::string stat = "/proc/" + std::to_string(let_go) + "/stat";
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    gone = ::access(stat.c_str(), F_OK) != 0;
    if (!gone) ::usleep(50 * 1000);
  }
  ::kill(khod, SIGTERM);
  int st = 0;
  ASSERT_EQ(::waitpid(khod, &st, 0), khod);
  EXPECT_TRUE(served) << Slurp(log);
  EXPECT_TRUE(gone) << "pid " << let_go << " is still there (a zombie of khod): " << Slurp(stat);
  EXPECT_TRUE(Has(Slurp(log), "waits for 1 children the previous khod let go of")) << Slurp(log);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st;
}

// A --page-pins that names fd 0-2 is ignored whole (khod serves on, and says
// so), and the other fds it names are set close-on-exec: no child of khod,
// nor the next khod, inherits them.
TEST_F(InstanceTest, PagePinsNamingStdioAreIgnoredAndTheRestCloseOnExec) {
  const std::string sock = dir_ + "/k.sock", state = dir_ + "/state", log = dir_ + "/pins.log";
  // Inherited by the khod started below (no O_CLOEXEC), at the same number.
  const int ring = ::open("/dev/null", O_RDONLY);
  ASSERT_GT(ring, 2);
  Result<ChildProcess> k =
      ChildProcess::Start({"daemon/khod", "--socket=" + sock, "--state-dir=" + state,
                           "--page-pins=1:2,1:" + std::to_string(ring)},
                          false, log);
  ::close(ring);
  ASSERT_TRUE(k.ok());
  KhodClient client(sock);
  ASSERT_TRUE(client.WaitHealthy(std::chrono::seconds(10)).ok()) << Slurp(log);
  const std::string fdinfo =
      Slurp("/proc/" + std::to_string(k->pid()) + "/fdinfo/" + std::to_string(ring));
  const size_t at = fdinfo.find("flags:");
  ASSERT_NE(at, std::string::npos) << "fd " << ring << " not open in khod: " << fdinfo;
  const unsigned long flags = std::strtoul(fdinfo.c_str() + at + 6, nullptr, 8);
  EXPECT_NE(flags & O_CLOEXEC, 0u) << fdinfo;
  EXPECT_TRUE(Has(Slurp(log), "--page-pins names fd 2 (stdin, stdout or stderr): ignored"))
      << Slurp(log);
  const int st = k->Stop(SIGTERM);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st;
}

// --lock-fd must be the state dir's own lock file (same device and inode as
// <state-dir>/khod.lock opened O_NOFOLLOW there): any other file that flock
// accepts would let two khods share a state dir.
TEST_F(InstanceTest, ALockFdThatIsNotTheStateDirsLockFileIsRefused) {
  const std::string state = dir_ + "/state", sock = dir_ + "/k.sock";
  ASSERT_EQ(::mkdir(state.c_str(), 0700), 0);
  std::ofstream(state + "/khod.lock") << "";
  std::ofstream(dir_ + "/other") << "";
  // Inherited by the khod started below (no O_CLOEXEC), at the same number.
  const int other = ::open((dir_ + "/other").c_str(), O_RDWR);
  ASSERT_GE(other, 0);
  std::string said;
  EXPECT_EQ(
      RunRefused({"--socket=" + sock, "--state-dir=" + state, "--lock-fd=" + std::to_string(other)},
                 &said),
      2)
      << said;
  EXPECT_TRUE(Has(said, "--lock-fd " + std::to_string(other) + " is not " + state + "/khod.lock"))
      << said;
  ::close(other);

  // The lock file itself, as a reexec hands it on: taken, and khod serves.
  const int lock = ::open((state + "/khod.lock").c_str(), O_RDWR);
  ASSERT_GE(lock, 0);
  Result<ChildProcess> k =
      ChildProcess::Start({"daemon/khod", "--socket=" + sock, "--state-dir=" + state,
                           "--lock-fd=" + std::to_string(lock)},
                          false, dir_ + "/k.log");
  ::close(lock);
  ASSERT_TRUE(k.ok());
  EXPECT_TRUE(KhodClient(sock).WaitHealthy(std::chrono::seconds(10)).ok())
      << Slurp(dir_ + "/k.log");
  EXPECT_EQ(k->Stop(SIGTERM), 0);
}

}  // namespace
}  // namespace khod
