// khod as a host service, driven as an operator or a service manager would:
// its command line (--help, "--flag value"), khoctl's help, socket
// activation and readiness notices (systemd-socket-activate stands in for
// systemd as PID 1, which the test machines do not run).
#include <fcntl.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "daemon/systemd_activation.h"
#include "khoctl/client.h"
#include "proto/reflection.grpc.pb.h"
#include "tests/daemon/verify_verdict.h"
#include "tests/support/fixture.h"
#include "tools/rehearsal/child_process.h"

namespace khod {
namespace {

// Runs `command` through the shell; returns its exit code and stdout.
int RunShell(const std::string& command, std::string* out) {
  out->clear();
  FILE* p = ::popen(command.c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) out->append(buf, n);
  int st = ::pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

// A datagram socket playing systemd's $NOTIFY_SOCKET.
class NotifyListener {
 public:
  explicit NotifyListener(const std::string& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
    bound_ = ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  }
  ~NotifyListener() { ::close(fd_); }
  bool bound() const { return bound_; }
  // The next notice, or "" after `ms` without one.
  std::string Next(int ms) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, ms) != 1) return "";
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  }
  // Notices until one starts with `prefix` (returned), or "" after `ms`.
  std::string Until(const std::string& prefix, int ms) {
    for (auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
         std::chrono::steady_clock::now() < end;) {
      std::string m = Next(100);
      if (m.rfind(prefix, 0) == 0) return m;
    }
    return "";
  }

 private:
  std::string path_;
  int fd_ = -1;
  bool bound_ = false;
};

// One fd is root's socket (whatever its name, unless "group"); of two, the
// one named "group" (khod-group.socket) is the group's, the other root's.
TEST(SystemdActivationTest, ActivatedFdsAreRootsAndTheGroupsByName) {
  auto fds = [](const char* pid, const char* n, const char* names) {
    return ActivatedFds(pid, n, names, 42);
  };
  EXPECT_EQ(fds(nullptr, nullptr, nullptr)->root, -1);  // not socket-activated
  EXPECT_EQ(fds("41", "1", nullptr)->root, -1);         // meant for a parent
  Result<ActivatedSockets> one = fds("42", "1", nullptr);
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  EXPECT_EQ(one->root, kFirstActivatedFd);
  EXPECT_EQ(one->group, -1);
  EXPECT_EQ(fds("42", "1", "root")->root, kFirstActivatedFd);
  EXPECT_EQ(fds("42", "1", "khod.socket")->root, kFirstActivatedFd);
  Result<ActivatedSockets> two = fds("42", "2", "root:group");
  ASSERT_TRUE(two.ok()) << two.status().ToString();
  EXPECT_EQ(two->root, kFirstActivatedFd);
  EXPECT_EQ(two->group, kFirstActivatedFd + 1);
  two = fds("42", "2", "group:root");
  ASSERT_TRUE(two.ok()) << two.status().ToString();
  EXPECT_EQ(two->group, kFirstActivatedFd);
  EXPECT_EQ(two->root, kFirstActivatedFd + 1);
  // Two that the names do not tell apart, the group's without root's, three.
  for (const char* names : {static_cast<const char*>(nullptr), "root:root", "group:group", "root",
                            "a:b", "root:group:x"}) {
    Result<ActivatedSockets> r = fds("42", "2", names);
    ASSERT_FALSE(r.ok()) << (names ? names : "(no names)");
    EXPECT_NE(r.status().message().find("FileDescriptorName=group"), std::string::npos)
        << r.status().message();
  }
  Result<ActivatedSockets> alone = fds("42", "1", "group");
  ASSERT_FALSE(alone.ok());
  EXPECT_NE(alone.status().message().find("without root's"), std::string::npos)
      << alone.status().message();
  Result<ActivatedSockets> three = fds("42", "3", "root:group:x");
  ASSERT_FALSE(three.ok());
  EXPECT_NE(three.status().message().find("passed 3 fds"), std::string::npos);
  EXPECT_FALSE(fds("42", "0", nullptr).ok());
  EXPECT_FALSE(fds("42x", "1", nullptr).ok());
  EXPECT_FALSE(fds("42", "", nullptr).ok());
}

TEST(SystemdActivationTest, NoticeReachesNotifySocketByPathAndAbstractName) {
  const TempDir tmp("notify-test", TempDir::Use::kSocket);
  const std::string dir = tmp.path();
  NotifyListener l(dir + "/notify");
  ASSERT_TRUE(l.bound());
  ::setenv("NOTIFY_SOCKET", (dir + "/notify").c_str(), 1);
  EXPECT_TRUE(NotifyServiceManager("READY=1\nSTATUS=serving").ok());
  EXPECT_EQ(l.Next(1000), "READY=1\nSTATUS=serving");
  const std::string reloading = ReloadingNotice();
  EXPECT_EQ(reloading.rfind("RELOADING=1\nMONOTONIC_USEC=", 0), 0u) << reloading;
  ::setenv("NOTIFY_SOCKET", "relative/path", 1);
  EXPECT_FALSE(NotifyServiceManager("READY=1").ok());
  ::unsetenv("NOTIFY_SOCKET");
  EXPECT_TRUE(NotifyServiceManager("READY=1").ok());  // no service manager: nothing to do
}

class KhodServiceTest : public ::testing::Test {
 protected:
  static std::string ReadFile(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  // The metrics file is written by a thread of its own: waits for `text`.
  static bool WaitForText(const std::string& path, const std::string& text) {
    for (int i = 0; i < 100; ++i) {
      if (ReadFile(path).find(text) != std::string::npos) return true;
      ::usleep(50000);
    }
    ADD_FAILURE() << "no '" << text << "' in:\n" << ReadFile(path);
    return false;
  }
  // A 1 MiB memfd with one page written, attached to khod and prepared.
  static TestMemfd AttachPreparedMemfd(KhodClient& c) {
    TestMemfd guest(1 << 20, "guest");
    const int memfd = guest.fd();
    EXPECT_EQ(::pwrite(memfd, "x", 1, 0), 1);
    v1::AttachRequest a;
    a.set_name("guest");
    a.mutable_kernel()->set_pid(::getpid());
    a.mutable_kernel()->set_fd(memfd);
    EXPECT_TRUE(c.Attach(a).ok());
    EXPECT_TRUE(c.Prepare().ok());
    return guest;
  }
  TempDir tmp_{"service-test", TempDir::Use::kSocket};
  const std::string dir_ = tmp_.path();
};

TEST_F(KhodServiceTest, KhodHelpExitsZeroAndListsItsFlags) {
  std::string out;
  EXPECT_EQ(RunShell("daemon/khod --help", &out), 0);
  EXPECT_NE(out.find("usage: khod"), std::string::npos) << out;
  EXPECT_NE(out.find("--socket PATH"), std::string::npos) << out;
  EXPECT_NE(out.find("--state-dir DIR"), std::string::npos) << out;
  // Flags only a reexec sets are not offered to operators.
  EXPECT_EQ(out.find("--listen-fd"), std::string::npos) << out;
}

TEST_F(KhodServiceTest, KhodRefusesAnUnknownFlagOrArgument) {
  std::string out;
  EXPECT_EQ(RunShell("daemon/khod --no-such-flag 2>&1", &out), 2);
  EXPECT_NE(out.find("unknown flag '--no-such-flag'"), std::string::npos) << out;
  EXPECT_EQ(RunShell("daemon/khod stray 2>&1", &out), 2);
  EXPECT_NE(out.find("unexpected argument 'stray'"), std::string::npos) << out;
  EXPECT_EQ(RunShell("daemon/khod --transport 2>&1", &out), 2);
  EXPECT_NE(out.find("'--transport' needs a value"), std::string::npos) << out;
}

TEST_F(KhodServiceTest, SocketGivenAsSeparateArgumentServes) {
  const std::string sock = dir_ + "/k.sock";
  Result<ChildProcess> k = ChildProcess::Start(
      {"daemon/khod", "--socket", sock, "--state-dir", dir_ + "/state"}, false, dir_ + "/khod.log");
  ASSERT_TRUE(k.ok());
  EXPECT_TRUE(KhodClient(sock).WaitHealthy(std::chrono::seconds(10)).ok());
  std::string out;
  EXPECT_EQ(RunShell("khoctl/khoctl status --socket " + sock, &out), 0);
  EXPECT_NE(out.find("IDLE"), std::string::npos) << out;
}

TEST_F(KhodServiceTest, MetricsTextfileFollowsThePhasesAndPassesPromtool) {
  const std::string sock = dir_ + "/k.sock", metrics = dir_ + "/khod.prom";
  Result<ChildProcess> k = ChildProcess::Start({"daemon/khod", "--socket", sock, "--state-dir",
                                                dir_ + "/state", "--metrics-textfile", metrics},
                                               false, dir_ + "/khod.log");
  ASSERT_TRUE(k.ok());
  KhodClient c(sock);
  ASSERT_TRUE(c.WaitHealthy(std::chrono::seconds(10)).ok());
  auto read = [&] { return ReadFile(metrics); };
  auto wait_for = [&](const std::string& line) { return WaitForText(metrics, line); };
  wait_for("khod_phase{phase=\"IDLE\"} 1\n");
  TestMemfd guest = AttachPreparedMemfd(c);
  ASSERT_FALSE(HasFailure());
  ASSERT_TRUE(wait_for("khod_phase{phase=\"PREPARED\"} 1\n"));
  const std::string text = read();
  EXPECT_NE(text.find("khod_gmems{provenance=\"kernel\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("khod_gmem_bytes{provenance=\"kernel\"} 1048576\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("khod_phase_transition_seconds{phase=\"PREPARED\"} "), std::string::npos)
      << text;
  struct stat st;
  ASSERT_EQ(::stat(metrics.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);  // node_exporter need not be root
  guest.Close();
  if (::access("/usr/bin/promtool", X_OK) != 0)
    GTEST_SKIP() << "promtool missing (Debian package prometheus; scripts/deps.sh installs it)";
  std::string out;
  EXPECT_EQ(RunShell("promtool check metrics < " + metrics + " 2>&1", &out), 0) << out << text;
  EXPECT_EQ(out, "") << out;
}

TEST_F(KhodServiceTest, StatusJsonParsesAsTheStatusReply) {
  const std::string sock = dir_ + "/k.sock";
  Result<ChildProcess> k =
      ChildProcess::Start({"daemon/khod", "--socket=" + sock, "--state-dir=" + dir_ + "/state"},
                          false, dir_ + "/khod.log");
  ASSERT_TRUE(k.ok());
  KhodClient c(sock);
  ASSERT_TRUE(c.WaitHealthy(std::chrono::seconds(10)).ok());
  v1::AttachRequest a;
  a.set_name("vm0");
  a.mutable_model()->set_size(1ull << 30);
  ASSERT_TRUE(c.Attach(a).ok());
  std::string out;
  ASSERT_EQ(RunShell("khoctl/khoctl status --json --socket " + sock, &out), 0) << out;
  v1::StatusReply s;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(out, &s).ok()) << out;
  EXPECT_EQ(s.phase(), v1::IDLE);
  ASSERT_EQ(s.gmems_size(), 1) << out;
  EXPECT_EQ(s.gmems(0).name(), "vm0");
  EXPECT_EQ(s.pid(), static_cast<uint32_t>(k->pid()));
  // Plain JSON to any reader, not only protobuf's: python's parser agrees.
  ASSERT_EQ(RunShell("khoctl/khoctl status --json --socket " + sock +
                         " | python3 -c 'import json,sys; d=json.load(sys.stdin); "
                         "print(d[\"phase\"], d[\"gmems\"][0][\"name\"])'",
                     &out),
            0);
  EXPECT_EQ(out, "IDLE vm0\n");
  // The phase commands print their PhaseReply the same way.
  ASSERT_EQ(RunShell("khoctl/khoctl prepare --json --socket " + sock, &out), 0) << out;
  v1::PhaseReply p;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(out, &p).ok()) << out;
  EXPECT_EQ(p.phase(), v1::PREPARED);
  ASSERT_EQ(RunShell("khoctl/khoctl fds --json --socket " + sock + " 2>/dev/null", &out), 0);
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(out, &s).ok()) << out;
  EXPECT_EQ(s.gmems_size(), 1);
  ASSERT_EQ(RunShell("khoctl/khoctl freeze --guests-paused --transport dir --json --socket " + sock,
                     &out),
            0)
      << out;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(out, &p).ok()) << out;
  EXPECT_EQ(p.phase(), v1::HANDED_OVER);
  // restore --json: its PhaseReply on one line, then Verify's VerifyReply on the next.
  // A MODEL guest's pages are the model's own, observed in full whoever asks:
  // EQUAL, exit 0 (3 would be NOT VERIFIED).
  const int restored = RunShell("khoctl/khoctl restore --json --socket " + sock, &out);
  EXPECT_EQ(restored, 0) << out;
  const size_t nl = out.find('\n');
  ASSERT_NE(nl, std::string::npos) << out;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(out.substr(0, nl), &p).ok()) << out;
  EXPECT_EQ(p.phase(), v1::RESTORED);
  v1::VerifyReply v;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(out.substr(nl + 1), &v).ok()) << out;
  EXPECT_EQ(VerdictAndKinds(v), "EQUAL") << FirstDifferenceOf(v) << "\n" << out;
}

// A generic gRPC client learns khod's API from khod itself.
TEST_F(KhodServiceTest, ReflectionListsKhodsServices) {
  const std::string sock = dir_ + "/k.sock";
  Result<ChildProcess> k =
      ChildProcess::Start({"daemon/khod", "--socket=" + sock, "--state-dir=" + dir_ + "/state"},
                          false, dir_ + "/khod.log");
  ASSERT_TRUE(k.ok());
  ASSERT_TRUE(KhodClient(sock).WaitHealthy(std::chrono::seconds(10)).ok());
  auto channel = grpc::CreateChannel("unix:" + sock, grpc::InsecureChannelCredentials());
  auto stub = grpc::reflection::v1alpha::ServerReflection::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  auto stream = stub->ServerReflectionInfo(&ctx);
  grpc::reflection::v1alpha::ServerReflectionRequest q;
  q.set_list_services("");
  ASSERT_TRUE(stream->Write(q));
  grpc::reflection::v1alpha::ServerReflectionResponse r;
  ASSERT_TRUE(stream->Read(&r));
  std::set<std::string> names;
  for (const auto& s : r.list_services_response().service()) names.insert(s.name());
  EXPECT_EQ(names.count("khod.v1.Khod"), 1u) << r.DebugString();
  EXPECT_EQ(names.count("grpc.health.v1.Health"), 1u) << r.DebugString();
  // ... and the descriptor of its methods, to call them.
  q.set_file_containing_symbol("khod.v1.Khod");
  ASSERT_TRUE(stream->Write(q));
  ASSERT_TRUE(stream->Read(&r));
  ASSERT_GT(r.file_descriptor_response().file_descriptor_proto_size(), 0) << r.DebugString();
  stream->WritesDone();
}

TEST_F(KhodServiceTest, KhoctlCommandHelpPrintsItsUsage) {
  std::string out;
  EXPECT_EQ(RunShell("khoctl/khoctl status --help", &out), 0);
  EXPECT_NE(out.find("usage: khoctl status"), std::string::npos) << out;
  EXPECT_EQ(RunShell("khoctl/khoctl verify -h", &out), 0);
  EXPECT_NE(out.find("usage: khoctl verify OUT"), std::string::npos) << out;
  EXPECT_NE(out.find("usage: khoctl verify [--socket PATH]"), std::string::npos) << out;
  // Exit codes and messages of a real mistake stay as they were.
  EXPECT_EQ(RunShell("khoctl/khoctl status --bogus 2>&1", &out), 2);
  EXPECT_NE(out.find("khoctl status: unknown flag '--bogus'"), std::string::npos) << out;
}

// Socket activation with --allow-gid: systemd-socket-activate passes root's
// socket and the group's, named as khod.socket and khod-group.socket name
// them (in the other order, so the names decide), and khod serves each as
// its own: calls on both, and a reexec keeps both (--group-listen-fd). A khod
// handed the group's socket without --allow-gid stops, saying so.
TEST_F(KhodServiceTest, SocketActivatedKhodTellsRootsSocketFromTheGroupsByName) {
  if (::access("/usr/bin/systemd-socket-activate", X_OK) != 0)
    GTEST_SKIP() << "systemd-socket-activate missing (Debian package systemd)";
  const std::string root = dir_ + "/root.sock", group = dir_ + "/group.sock";
  Result<ChildProcess> k =
      ChildProcess::Start({"/usr/bin/systemd-socket-activate", "-l", group, "-l", root,
                           "--fdname=group:root", "daemon/khod", "--state-dir", dir_ + "/state",
                           "--transport", "reexec", "--allow-gid", "65534"},
                          false, dir_ + "/khod.log");
  ASSERT_TRUE(k.ok());
  for (int i = 0; i < 100 && ::access(group.c_str(), F_OK) != 0; ++i) ::usleep(50000);
  std::string out;
  EXPECT_EQ(RunShell("khoctl/khoctl status --socket " + root, &out), 0) << out;
  KhodClient c(root), g(group);
  ASSERT_TRUE(c.WaitHealthy(std::chrono::seconds(10)).ok());
  ASSERT_TRUE(g.WaitHealthy(std::chrono::seconds(10)).ok());
  TestMemfd guest = AttachPreparedMemfd(c);
  ASSERT_FALSE(HasFailure());
  const std::string log = ReadFile(dir_ + "/khod.log");
  EXPECT_NE(log.find("serving fd 4 from socket activation (root's) and fd 3 from socket "
                     "activation (gid 65534's)"),
            std::string::npos)
      << log;
  Result<v1::StatusReply> before = c.GetStatus();
  ASSERT_TRUE(before.ok());
  v1::FreezeRequest f;
  f.set_guests_paused(true);
  ASSERT_TRUE(c.Freeze(f).ok());
  Result<v1::StatusReply> after =
      c.WaitNewIncarnation(before->incarnation(), std::chrono::seconds(20));
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_EQ(after->exec_count(), 1u);
  // The new khod serves on both sockets it was handed.
  Result<v1::StatusReply> on_group = g.GetStatus();
  ASSERT_TRUE(on_group.ok()) << on_group.status().ToString();
  EXPECT_EQ(on_group->incarnation(), after->incarnation());
  std::ifstream cmdline("/proc/" + std::to_string(after->pid()) + "/cmdline");
  std::string argv((std::istreambuf_iterator<char>(cmdline)), std::istreambuf_iterator<char>());
  EXPECT_NE(argv.find(std::string("--listen-fd=4\0", 14)), std::string::npos);
  EXPECT_NE(argv.find(std::string("--group-listen-fd=3\0", 20)), std::string::npos);
  guest.Close();
  k->Stop(SIGTERM);

  // The group's socket without --allow-gid: khod does not start.
  const std::string other = dir_ + "/other";
  ASSERT_EQ(::mkdir(other.c_str(), 0700), 0);
  Result<ChildProcess> bad = ChildProcess::Start(
      {"/usr/bin/systemd-socket-activate", "-l", other + "/r.sock", "-l", other + "/g.sock",
       "--fdname=root:group", "daemon/khod", "--state-dir", other + "/state"},
      false, other + "/khod.log");
  ASSERT_TRUE(bad.ok());
  for (int i = 0; i < 100 && ::access((other + "/r.sock").c_str(), F_OK) != 0; ++i) ::usleep(50000);
  EXPECT_EQ(RunShell("khoctl/khoctl status --socket " + other + "/r.sock 2>&1", &out), 2) << out;
  const int st = bad->Wait();
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 2) << st;
  const std::string said = ReadFile(other + "/khod.log");
  EXPECT_NE(said.find("khod has no --allow-gid"), std::string::npos) << said;
}

// systemd-socket-activate binds the socket and execs khod on the first
// connection with LISTEN_FDS=1 (as khod.socket would; -E passes on the
// NOTIFY_SOCKET a service manager sets): khod serves on it,
// tells $NOTIFY_SOCKET READY=1, RELOADING=1 before a reexec handover and
// READY=1 again from the new khod, which serves on the same socket.
TEST_F(KhodServiceTest, SocketActivatedKhodServesNotifiesAndKeepsTheSocketAcrossReexec) {
  if (::access("/usr/bin/systemd-socket-activate", X_OK) != 0)
    GTEST_SKIP() << "systemd-socket-activate missing (Debian package systemd)";
  const std::string sock = dir_ + "/activated.sock";
  NotifyListener notices(dir_ + "/notify");
  ASSERT_TRUE(notices.bound());
  ::setenv("NOTIFY_SOCKET", (dir_ + "/notify").c_str(), 1);
  Result<ChildProcess> k =
      ChildProcess::Start({"/usr/bin/systemd-socket-activate", "-l", sock, "-E", "NOTIFY_SOCKET",
                           "daemon/khod", "--state-dir", dir_ + "/state", "--transport", "reexec",
                           "--metrics-textfile", dir_ + "/khod.prom"},
                          false, dir_ + "/khod.log");
  ::unsetenv("NOTIFY_SOCKET");
  ASSERT_TRUE(k.ok());
  for (int i = 0; i < 100 && ::access(sock.c_str(), F_OK) != 0; ++i) ::usleep(50000);
  std::string out;
  EXPECT_EQ(RunShell("khoctl/khoctl status --socket " + sock, &out), 0) << out;
  EXPECT_NE(out.find("IDLE"), std::string::npos) << out;
  EXPECT_NE(notices.Until("READY=1", 5000), "");

  KhodClient c(sock);
  TestMemfd guest = AttachPreparedMemfd(c);
  ASSERT_FALSE(HasFailure());
  // The check: after an attach and a prepare the metrics file holds
  // khod_ metrics and passes promtool.
  ASSERT_TRUE(WaitForText(dir_ + "/khod.prom", "khod_phase{phase=\"PREPARED\"} 1\n"));
  if (::access("/usr/bin/promtool", X_OK) == 0) {
    EXPECT_EQ(RunShell("promtool check metrics < " + dir_ + "/khod.prom 2>&1", &out), 0) << out;
    EXPECT_EQ(out, "");
  }
  Result<v1::StatusReply> before = c.GetStatus();
  ASSERT_TRUE(before.ok());
  v1::FreezeRequest f;
  f.set_guests_paused(true);
  ASSERT_TRUE(c.Freeze(f).ok());
  EXPECT_NE(notices.Until("RELOADING=1\nMONOTONIC_USEC=", 10000), "");
  Result<v1::StatusReply> after =
      c.WaitNewIncarnation(before->incarnation(), std::chrono::seconds(20));
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_EQ(after->exec_count(), 1u);
  EXPECT_EQ(after->pid(), before->pid());  // the unit's main pid stays
  EXPECT_NE(notices.Until("READY=1", 5000), "");
  EXPECT_EQ(RunShell("khoctl/khoctl status --socket " + sock, &out), 0) << out;
  EXPECT_NE(out.find("HANDED_OVER"), std::string::npos) << out;
  // The re-executed khod writes the file again: its reexec is counted.
  EXPECT_TRUE(WaitForText(dir_ + "/khod.prom", "khod_reexecs_total 1\n"));
  guest.Close();
  k->Stop(SIGTERM);
  EXPECT_EQ(notices.Until("STOPPING=1", 5000), "STOPPING=1");
}

}  // namespace
}  // namespace khod
