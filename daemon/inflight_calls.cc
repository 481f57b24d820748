#include "daemon/inflight_calls.h"

#include <grpc/grpc.h>

#include <atomic>
#include <thread>

namespace khod {
namespace {

class CountingInterceptor : public grpc::experimental::Interceptor {
 public:
  explicit CountingInterceptor(InflightCalls* calls) : calls_(calls), call_(calls_->Enter()) {}
  ~CountingInterceptor() override { calls_->Leave(call_); }
  void Intercept(grpc::experimental::InterceptorBatchMethods* m) override { m->Proceed(); }

 private:
  InflightCalls* calls_;
  uint64_t call_;
};

class CountingFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit CountingFactory(InflightCalls* calls) : calls_(calls) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo*) override {
    return new CountingInterceptor(calls_);
  }

 private:
  InflightCalls* calls_;
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> InflightCalls::Factory() {
  return std::make_unique<CountingFactory>(this);
}

uint64_t InflightCalls::Enter() {
  std::lock_guard<std::mutex> l(mu_);
  const uint64_t call = ++entered_;
  live_.insert(call);
  return call;
}

void InflightCalls::Leave(uint64_t call) {
  std::lock_guard<std::mutex> l(mu_);
  live_.erase(call);
  cv_.notify_all();
}

int InflightCalls::count() const {
  std::lock_guard<std::mutex> l(mu_);
  return static_cast<int>(live_.size());
}

bool InflightCalls::WaitForCallsInFlight(std::chrono::milliseconds settle,
                                         std::chrono::steady_clock::time_point deadline) {
  std::unique_lock<std::mutex> l(mu_);
  const uint64_t last = entered_;  // the calls begun so far
  if (!cv_.wait_until(l, deadline, [&] { return live_.empty() || *live_.begin() > last; }))
    return false;
  l.unlock();
  std::this_thread::sleep_until(std::min(deadline, std::chrono::steady_clock::now() + settle));
  return std::chrono::steady_clock::now() < deadline;
}

void StopServer(grpc::Server* server, InflightCalls* calls, std::chrono::milliseconds grace) {
  const auto deadline = std::chrono::steady_clock::now() + grace;
  std::mutex mu;
  std::condition_variable cv;
  bool stopped = false;
  // Shutdown() below sends GOAWAY and blocks until every connection is gone
  // or the deadline passes; a client may still begin calls on its connection
  // for a while (gRPC's GOAWAY is graceful, in two steps). Once
  // the calls in flight at the stop (the Freeze that asked for a reexec) have
  // ended, what is left is cancelled and closed (what Shutdown itself does at
  // the deadline), so neither an idle client nor a polling one holds us: a
  // call cancelled here is retried by its client against the next khod.
  std::thread closer([&] {
    if (!calls->WaitForCallsInFlight(std::chrono::milliseconds(2), deadline)) return;
    std::lock_guard<std::mutex> l(mu);
    if (!stopped) grpc_server_cancel_all_calls(server->c_server());
  });
  server->Shutdown(std::chrono::system_clock::now() + grace);
  {
    std::lock_guard<std::mutex> l(mu);
    stopped = true;
  }
  closer.join();
}

}  // namespace khod
