// khod's listener under a hostile host (issue 11 items 9 and 13): the accept
// loop backs off when no fd is left instead of spinning on the pending
// connection, --allow-gid is parsed strictly, a member of the allowed group
// through a supplementary group is let in, and a connection on root's socket
// serves root alone. A closed connection's fd number is not the next one's.
#include <fcntl.h>
#include <grp.h>
#include <grpcpp/create_channel_posix.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "daemon/peer_auth.h"
#include "daemon/unix_listener.h"
#include "proto/khod.grpc.pb.h"
#include "tests/support/fixture.h"

namespace khod {
namespace {

bool Has(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

class ListenerTest : public ::testing::Test {
 protected:
  int Connect() const {
    const int c = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, socket_.c_str(), sizeof(a.sun_path) - 1);
    return ::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 ? c : -1;
  }
  TempDir tmp_{"listener-test", TempDir::Use::kSocketForOthers};  // a dropped-privilege child too
  const std::string dir_ = tmp_.path();
  const std::string socket_ = dir_ + "/k.sock";
};

TEST(AllowGidTest, ANumberOrAGroupNameAndNothingElse) {
  Result<gid_t> zero = ParseAllowGid("0");
  ASSERT_TRUE(zero.ok()) << zero.status().ToString();
  EXPECT_EQ(*zero, 0u);
  Result<gid_t> n = ParseAllowGid("4242");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 4242u);
  Result<gid_t> root = ParseAllowGid("root");
  ASSERT_TRUE(root.ok()) << root.status().ToString();
  EXPECT_EQ(*root, 0u);
  // atol read each of these as a gid (0, 12, -1 ...): each is refused, naming it.
  for (const char* bad : {"abc", "12x", "", "-1", " 7", "4294967295", "99999999999"}) {
    Result<gid_t> r = ParseAllowGid(bad);
    EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument) << bad;
    EXPECT_TRUE(Has(r.status().message(), std::string("--allow-gid '") + bad + "'"))
        << r.status().ToString();
  }
}

// A child with primary gid 4343 and supplementary group 4242, uid nobody,
// connects; PeerAuth decides from what the kernel says of that connection.
TEST_F(ListenerTest, ASupplementaryMemberOfTheAllowedGroupIsLetIn) {
  Result<int> l = UnixListener::Bind(socket_, -1, -1);
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  ASSERT_EQ(::chmod(socket_.c_str(), 0666), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    const gid_t extra = 4242;
    if (::setgroups(1, &extra) != 0 || ::setgid(4343) != 0 || ::setuid(65534) != 0) ::_exit(3);
    const int c = Connect();
    if (c < 0) ::_exit(4);
    char b;
    (void)!::read(c, &b, 1);  // until the parent is done with the connection
    ::_exit(0);
  }
  const int conn = ::accept4(*l, nullptr, nullptr, SOCK_CLOEXEC);
  if (conn < 0) {
    int st = 0;
    ::waitpid(child, &st, 0);
    ::close(*l);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 3) GTEST_SKIP() << "cannot drop to uid 65534 here";
    FAIL() << "accept: " << std::strerror(errno);
  }
  const std::string peer = "fd:" + std::to_string(conn);
  PeerAuth supplementary(4242), primary(4343), other(4444);
  for (PeerAuth* a : {&supplementary, &primary, &other}) ASSERT_TRUE(a->Register(conn).ok());
  Status s = supplementary.Check(peer).status();
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(primary.Check(peer).ok());
  Status denied = other.Check(peer).status();
  EXPECT_EQ(denied.code(), Status::Code::kPermissionDenied);
  EXPECT_TRUE(Has(denied.message(), "uid 65534 gid 4343")) << denied.ToString();
  ::close(conn);
  int st = 0;
  ::waitpid(child, &st, 0);
  ::close(*l);
}

// Under --allow-gid root's socket is 0600 and its listener registers each
// connection root_only: a member of the allowed group that reached it anyway
// (its mode opened up by hand) is refused there, naming the group's socket,
// and let in on the group's. WarnUnlessRootOnly says when root's socket, not
// bound by khod (socket activation, a reexec), admits others.
TEST_F(ListenerTest, AConnectionOnRootsSocketServesRootAlone) {
  Result<int> l = UnixListener::Bind(socket_, -1, -1);
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  struct stat st;
  ASSERT_EQ(::stat(socket_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(UnixListener::WarnUnlessRootOnly(*l), "");
  ASSERT_EQ(::chmod(socket_.c_str(), 0660), 0);
  const std::string warning = UnixListener::WarnUnlessRootOnly(*l);
  EXPECT_TRUE(Has(warning, socket_ + " is mode 0660")) << warning;
  ASSERT_EQ(::chmod(socket_.c_str(), 0666), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(3);
    const int c = Connect();
    if (c < 0) ::_exit(4);
    char b;
    (void)!::read(c, &b, 1);  // until the parent is done with the connection
    ::_exit(0);
  }
  const int conn = ::accept4(*l, nullptr, nullptr, SOCK_CLOEXEC);
  if (conn < 0) {
    int wst = 0;
    ::waitpid(child, &wst, 0);
    ::close(*l);
    if (WIFEXITED(wst) && WEXITSTATUS(wst) == 3) GTEST_SKIP() << "cannot drop to uid 65534 here";
    FAIL() << "accept: " << std::strerror(errno);
  }
  const std::string peer = "fd:" + std::to_string(conn);
  PeerAuth on_roots(65534), on_groups(65534);
  ASSERT_TRUE(on_roots.Register(conn, /*root_only=*/true).ok());
  ASSERT_TRUE(on_groups.Register(conn, /*root_only=*/false).ok());
  Status denied = on_roots.Check(peer).status();
  EXPECT_EQ(denied.code(), Status::Code::kPermissionDenied) << denied.ToString();
  EXPECT_TRUE(Has(denied.message(), "uid 65534 gid 65534 called on root's socket"))
      << denied.ToString();
  EXPECT_TRUE(Has(denied.message(), "gid 65534 call on the group's socket")) << denied.ToString();
  EXPECT_TRUE(on_groups.Check(peer).ok());
  // Root's own connection on root's socket serves it.
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  ASSERT_TRUE(on_roots.Register(pair[0], /*root_only=*/true).ok());
  EXPECT_TRUE(on_roots.Check("fd:" + std::to_string(pair[0])).ok());
  ::close(pair[0]);
  ::close(pair[1]);
  ::close(conn);
  int wst = 0;
  ::waitpid(child, &wst, 0);
  ::close(*l);
}

// A user other than root holds at most kMaxConnectionsPerUser connections:
// the next is refused naming it, and one that closes makes room again. Root's
// are not counted.
TEST_F(ListenerTest, AUserOtherThanRootHoldsAtMostItsShareOfConnections) {
  Result<int> l = UnixListener::Bind(socket_, -1, -1);
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  ASSERT_EQ(::chmod(socket_.c_str(), 0666), 0);
  const size_t n = kMaxConnectionsPerUser + 1;
  int go[2];
  ASSERT_EQ(::pipe2(go, O_CLOEXEC), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(go[1]);
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(3);
    std::vector<int> held;
    for (size_t i = 0; i < n; ++i) {
      const int c = Connect();
      if (c < 0) ::_exit(4);
      held.push_back(c);
    }
    char b;
    (void)!::read(go[0], &b, 1);  // the parent says: close the first one, connect again
    ::close(held[0]);
    if (Connect() < 0) ::_exit(5);
    (void)!::read(go[0], &b, 1);  // until the parent is done
    ::_exit(0);
  }
  ::close(go[0]);
  PeerAuth auth(65534);
  std::vector<int> accepted;
  Status last;
  for (size_t i = 0; i < n; ++i) {
    const int c = ::accept4(*l, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) break;
    accepted.push_back(c);
    last = auth.Register(c);
    if (i + 1 < n) {
      EXPECT_TRUE(last.ok()) << i << ": " << last.ToString();
    }
  }
  if (accepted.size() < n) {
    int st = 0;
    ::close(go[1]);
    ::waitpid(child, &st, 0);
    ::close(*l);
    for (int c : accepted) ::close(c);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 3) GTEST_SKIP() << "cannot drop to uid 65534 here";
    FAIL() << "accepted " << accepted.size() << " of " << n;
  }
  EXPECT_EQ(last.code(), Status::Code::kResourceExhausted) << last.ToString();
  EXPECT_TRUE(Has(last.message(), "uid 65534")) << last.ToString();
  EXPECT_TRUE(Has(last.message(), "holds " + std::to_string(kMaxConnectionsPerUser)))
      << last.ToString();
  ::close(accepted.back());  // what the listener does with a refused one
  accepted.pop_back();
  // Root's are not counted.
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  EXPECT_TRUE(auth.Register(pair[0]).ok()) << "root's are not counted";
  // khod's end of a connection the peer closed is closed by gRPC in time; here, at once.
  ASSERT_EQ(::write(go[1], "x", 1), 1);
  ::close(accepted[0]);
  accepted.erase(accepted.begin());
  const int c = ::accept4(*l, nullptr, nullptr, SOCK_CLOEXEC);
  ASSERT_GE(c, 0);
  const Status room = auth.Register(c);
  EXPECT_TRUE(room.ok()) << "a closed one makes room: " << room.ToString();
  accepted.push_back(c);
  ::close(pair[0]);
  ::close(pair[1]);
  ::close(go[1]);
  for (int a : accepted) ::close(a);
  int st = 0;
  ::waitpid(child, &st, 0);
  ::close(*l);
}

// gRPC names a connection "fd:N"; only that exact text is connection N, so a
// peer string with anything after the number matches no registered connection.
TEST(PeerAuthTest, OnlyTheExactFdTextNamesAConnection) {
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  PeerAuth auth;
  ASSERT_TRUE(auth.Register(pair[0]).ok());
  const std::string fd = std::to_string(pair[0]);
  Result<PeerCred> exact = auth.Check("fd:" + fd);
  EXPECT_TRUE(exact.ok()) << exact.status().ToString();
  for (const std::string& bad :
       {"fd:" + fd + "x", "fd:" + fd + " ", "fd: " + fd, "fd:+" + fd, "fd:" + fd + ":1",
        "fd:-" + fd, "fd:" + fd + "99999999999999999999", std::string("fd:")}) {
    Result<PeerCred> r = auth.Check(bad);
    EXPECT_EQ(r.status().code(), Status::Code::kPermissionDenied) << "'" << bad << "'";
  }
  ::close(pair[0]);
  ::close(pair[1]);
}

// Whether `fd` still holds the file of inode `ino` (false once it is closed,
// or its number holds another file), waiting up to 10 s for it to go.
bool StillHolds(int fd, ino_t ino) {
  for (int waited = 0; waited < 10000; waited += 10) {
    struct stat st;
    if (::fstat(fd, &st) != 0 || st.st_ino != ino) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

// GetStatus answers a caller PeerAuth lets in, and keeps the peer gRPC named.
class PeerEcho final : public v1::Khod::Service {
 public:
  explicit PeerEcho(const PeerAuth* auth) : auth_(auth) {}
  grpc::Status GetStatus(grpc::ServerContext* c, const v1::StatusRequest*,
                         v1::StatusReply*) override {
    {
      // The call pins its connection: its fd is open while the call runs.
      std::lock_guard<std::mutex> l(mu_);
      last_peer_ = c->peer();
      struct stat st;
      last_inode_ = ::fstat(std::atoi(last_peer_.c_str() + 3), &st) == 0 ? st.st_ino : 0;
    }
    Result<PeerCred> who = auth_->Check(c->peer());
    if (!who.ok()) return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, who.status().message());
    return grpc::Status::OK;
  }
  std::string last_peer() const {
    std::lock_guard<std::mutex> l(mu_);
    return last_peer_;
  }
  // The socket's inode the last call's peer fd held during the call.
  ino_t last_inode() const {
    std::lock_guard<std::mutex> l(mu_);
    return last_inode_;
  }

 private:
  const PeerAuth* auth_;
  mutable std::mutex mu_;
  std::string last_peer_;
  ino_t last_inode_ = 0;
};

// Credentials are recorded under a connection's fd number, and the kernel
// gives a new fd the lowest free number: a connection accepted after the
// previous one was closed got that one's number, and Register found it still
// recorded for the closed connection. The listener moves each connection to
// a rising number: five connections in turn, each closed on both sides
// before the next is made, are five numbers, each the one gRPC names the
// call's peer by, and none was found recorded for another connection.
TEST_F(ListenerTest, AClosedConnectionsFdNumberIsNotTheNextOnes) {
  Result<int> l = UnixListener::Bind(socket_, -1, -1);
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  PeerAuth auth;
  PeerEcho echo(&auth);
  grpc::ServerBuilder builder;
  builder.RegisterService(&echo);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_TRUE(server);
  UnixListener listener(*l, &auth);
  listener.Start(server.get());
  std::vector<int> numbers;
  for (int i = 0; i < 5; ++i) {
    const int c = Connect();
    ASSERT_GE(c, 0) << std::strerror(errno);
    struct stat client;
    ASSERT_EQ(::fstat(c, &client), 0);
    {
      std::shared_ptr<grpc::Channel> channel = grpc::CreateInsecureChannelFromFd("khod", c);
      std::unique_ptr<v1::Khod::Stub> stub = v1::Khod::NewStub(channel);
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
      v1::StatusRequest q;
      v1::StatusReply r;
      const grpc::Status s = stub->GetStatus(&ctx, q, &r);
      ASSERT_TRUE(s.ok()) << i << ": " << s.error_message();
    }  // the client's connection is closed with its channel
    const int n = auth.last_registered_fd();
    ASSERT_GE(n, 0);
    EXPECT_EQ(echo.last_peer(), "fd:" + std::to_string(n)) << "the call's peer is its connection";
    numbers.push_back(n);
    ASSERT_NE(echo.last_inode(), 0u);
    ASSERT_FALSE(StillHolds(c, client.st_ino)) << i << ": the client's fd " << c << " stays open";
    ASSERT_FALSE(StillHolds(n, echo.last_inode())) << i << ": gRPC did not close khod's fd " << n;
  }
  listener.Stop();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  ::close(*l);
  const std::set<int> distinct(numbers.begin(), numbers.end());
  std::string shown;
  for (int n : numbers) shown += " " + std::to_string(n);
  EXPECT_EQ(distinct.size(), numbers.size())
      << "a closed connection's fd number was given to the next connection:" << shown;
  EXPECT_EQ(auth.reused_numbers(), 0u) << shown;
}

// The numbers rise to the soft open-file limit, start again from
// kFirstConnectionFd there (the lowest free one from it on), and a connection
// keeps its own number when none from the floor to the limit is free.
TEST(ConnectionFdTest, NumbersRiseToTheLimitThenStartAgainFromTheFloor) {
  for (int fd = kFirstConnectionFd; fd < kFirstConnectionFd + 4; ++fd)
    if (::fcntl(fd, F_GETFD) >= 0) GTEST_SKIP() << "fd " << fd << " is taken here";
  rlimit saved;
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  rlimit low = saved;
  low.rlim_cur = kFirstConnectionFd + 4;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  std::vector<int> held;
  auto move_one = [&]() {
    int p[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p) != 0) return -1;
    ::close(p[1]);
    const int moved = UnixListener::MoveToFreshFd(p[0]);
    held.push_back(moved);
    return moved;
  };
  // Where the shared counter stands (the test before moved a few): the first
  // is at or above the floor, and the next ones rise until the limit.
  const int first = move_one();
  EXPECT_GE(first, kFirstConnectionFd);
  for (int expected = first + 1; expected < kFirstConnectionFd + 4; ++expected)
    EXPECT_EQ(move_one(), expected);
  // At the limit: again from the floor, the lowest free number from it on.
  for (int expected = kFirstConnectionFd; expected < first; ++expected)
    EXPECT_EQ(move_one(), expected);
  // None free from the floor to the limit: the connection keeps its number.
  const int kept = move_one();
  EXPECT_GE(kept, 0);
  EXPECT_LT(kept, kFirstConnectionFd);
  // One closed: the next takes it.
  ::close(kFirstConnectionFd + 1);
  held.erase(std::find(held.begin(), held.end(), kFirstConnectionFd + 1));
  EXPECT_EQ(move_one(), kFirstConnectionFd + 1);
  for (int fd : held) ::close(fd);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);
}

// Register says when a number it finds recorded is another socket's now (the
// earlier connection closed, its number given to a new one); the same
// connection registered again is no reuse.
TEST(PeerAuthTest, ANumberRecordedForAnotherSocketIsCountedAsReused) {
  int a[2], b[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, a), 0);
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, b), 0);
  PeerAuth auth;
  ASSERT_TRUE(auth.Register(a[0]).ok());
  ASSERT_TRUE(auth.Register(a[0]).ok());
  EXPECT_EQ(auth.reused_numbers(), 0u) << "the same connection again";
  ASSERT_GE(::dup3(b[0], a[0], O_CLOEXEC), 0);  // a[0]'s number, another socket's now
  ASSERT_TRUE(auth.Register(a[0]).ok());
  EXPECT_EQ(auth.reused_numbers(), 1u);
  EXPECT_EQ(auth.last_registered_fd(), a[0]);
  EXPECT_TRUE(auth.Check("fd:" + std::to_string(a[0])).ok());
  for (int fd : {a[0], a[1], b[0], b[1]}) ::close(fd);
}

// No fd left: accept fails with EMFILE while the connection stays pending,
// so poll says "readable" again at once. Over 2 s the loop may retry a few
// times (10 ms doubling to 1 s), not the millions a spin makes.
TEST_F(ListenerTest, AcceptLoopBacksOffWhenNoFdIsLeft) {
  Result<int> l = UnixListener::Bind(socket_, -1, -1);
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  PeerAuth auth;
  UnixListener listener(*l, &auth);
  const int client = Connect();
  ASSERT_GE(client, 0);
  rlimit saved;
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  rlimit low = saved;
  low.rlim_cur = 64;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  std::vector<int> filler;
  for (int fd; (fd = ::dup(0)) >= 0;) filler.push_back(fd);
  ASSERT_EQ(errno, EMFILE);
  listener.Start(nullptr);  // no accept succeeds, so no server is needed
  std::this_thread::sleep_for(std::chrono::seconds(2));
  listener.Stop();
  const uint64_t calls = listener.accept_calls();
  for (int fd : filler) ::close(fd);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);
  ::close(client);
  ::close(*l);
  EXPECT_GE(calls, 1u);
  EXPECT_LE(calls, 20u) << "the accept loop spun on EMFILE";
}

}  // namespace
}  // namespace khod
