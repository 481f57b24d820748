// InflightCalls: how many RPCs gRPC is serving, from the moment a call reaches
// a handler thread until gRPC is done with it (reply written or call
// cancelled), counted by a server interceptor that lives as long as the call.
//
// StopServer uses it: gRPC's Server::Shutdown waits not only for calls but for
// every connection to be closed by its client, and an idle synchronous client
// does not read our GOAWAY (nothing polls its socket) for seconds. So a client
// that merely held a connection kept khod's stop, and a reexec's blackout,
// waiting for the whole deadline.
#ifndef KHOD_DAEMON_INFLIGHT_CALLS_H_
#define KHOD_DAEMON_INFLIGHT_CALLS_H_

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/server_interceptor.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>

namespace khod {

class InflightCalls {
 public:
  // For ServerBuilder::experimental().SetInterceptorCreators (one per server).
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> Factory();
  int count() const;
  // True once every call in flight when it was called has ended and
  // `settle` has passed after that (a call gRPC has accepted reaches a
  // handler thread within microseconds; `settle` covers that hand-off),
  // false at `deadline`. Calls that begin meanwhile are not waited for: a
  // client calling again and again (khoctl polling for the new khod during a
  // reexec) must not hold the stop, and the blackout, until the deadline.
  bool WaitForCallsInFlight(std::chrono::milliseconds settle,
                            std::chrono::steady_clock::time_point deadline);

  // A call begins (its number) and ends.
  uint64_t Enter();
  void Leave(uint64_t call);

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  uint64_t entered_ = 0;     // calls ever begun: the next one's number
  std::set<uint64_t> live_;  // the numbers of the calls in flight
};

// Shuts `server` down: refuses new calls, lets those in flight when it was
// called finish (up to `grace`), then cancels what came since and closes the
// connections left instead of waiting for their clients to close them.
void StopServer(grpc::Server* server, InflightCalls* calls, std::chrono::milliseconds grace);

}  // namespace khod

#endif  // KHOD_DAEMON_INFLIGHT_CALLS_H_
