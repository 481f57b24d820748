// daemon/inflight_calls.h StopServer against a connection whose client never
// reads nor hangs up (tests/daemon/idle_http2_client.h): what an idle client,
// a khoctl that merely holds its connection, is to khod's stop. The stop
// closes it, rather than waiting for its client to, or for the grace.
#include <grpcpp/grpcpp.h>
#include <grpcpp/server_posix.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include "daemon/inflight_calls.h"
#include "daemon/khod_service.h"
#include "daemon/peer_auth.h"
#include "tests/daemon/idle_http2_client.h"

namespace khod {
namespace {

TEST(StopServerTest, AnIdleConnectionIsClosedNotWaitedFor) {
  PeerAuth auth;
  KhodService service(&auth);
  InflightCalls calls;
  grpc::ServerBuilder builder;
  builder.RegisterService(&service);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> counting;
  counting.push_back(calls.Factory());
  builder.experimental().SetInterceptorCreators(std::move(counting));
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_TRUE(server);
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  grpc::AddInsecureChannelFromFd(server.get(), sv[0]);  // the server's from here on
  IdleHttp2Client idle(sv[1]);
  ASSERT_TRUE(idle.Hello(20000)) << "no HTTP/2 connection to the server";

  // An hour's grace: no call is in flight, so nothing is left to wait for.
  std::promise<void> returned;
  std::future<void> stop_returned = returned.get_future();
  std::thread stopper([&] {
    StopServer(server.get(), &calls, std::chrono::hours(1));
    returned.set_value();
  });
  // The client never answers the graceful GOAWAY's PING: a stop that waited
  // for it would see the connection end only by gRPC's graceful-GOAWAY timer
  // (20 s in gRPC 1.51), with a GOAWAY of NO_ERROR; StopServer cuts it with a
  // GOAWAY of an error code ("Cancelling all calls") and returns. The 60 s
  // below only keeps a hang from outliving the test.
  const bool closed = idle.ReadUntilClosed(60000);
  if (!closed) idle.HangUp();  // lets a stop that waits for the client end
  EXPECT_TRUE(closed) << "the server never closed the idle connection";
  const IdleHttp2Client::GoAway g = idle.LastGoAway();
  EXPECT_TRUE(g.seen) << "the connection closed without a GOAWAY";
  EXPECT_NE(g.error, 0u) << "closed by a graceful GOAWAY the idle client never answered: the stop "
                            "waited for gRPC's timer instead of closing the connection ("
                         << g.debug << ")";
  EXPECT_EQ(stop_returned.wait_for(std::chrono::seconds(60)), std::future_status::ready)
      << "StopServer did not return once the connection was closed";
  stopper.join();
}

}  // namespace
}  // namespace khod
