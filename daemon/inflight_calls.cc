#include "daemon/inflight_calls.h"

#include <grpc/grpc.h>

#include <atomic>
#include <thread>

namespace khod {
namespace {

class CountingInterceptor : public grpc::experimental::Interceptor {
 public:
  explicit CountingInterceptor(InflightCalls* calls) : calls_(calls) { calls_->Enter(); }
  ~CountingInterceptor() override { calls_->Leave(); }
  void Intercept(grpc::experimental::InterceptorBatchMethods* m) override { m->Proceed(); }

 private:
  InflightCalls* calls_;
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

void InflightCalls::Enter() {
  std::lock_guard<std::mutex> l(mu_);
  ++n_;
  ++entered_;
}

void InflightCalls::Leave() {
  std::lock_guard<std::mutex> l(mu_);
  --n_;
  cv_.notify_all();
}

int InflightCalls::count() const {
  std::lock_guard<std::mutex> l(mu_);
  return n_;
}

bool InflightCalls::WaitIdle(std::chrono::milliseconds settle,
                             std::chrono::steady_clock::time_point deadline) {
  std::unique_lock<std::mutex> l(mu_);
  for (;;) {
    if (!cv_.wait_until(l, deadline, [&] { return n_ == 0; })) return false;
    const uint64_t seen = entered_;
    const auto until = std::min(deadline, std::chrono::steady_clock::now() + settle);
    // Idle through the whole settle window, or start over.
    cv_.wait_until(l, until, [&] { return entered_ != seen; });
    if (entered_ == seen && n_ == 0) return std::chrono::steady_clock::now() < deadline;
  }
}

void StopServer(grpc::Server* server, InflightCalls* calls, std::chrono::milliseconds grace) {
  const auto deadline = std::chrono::steady_clock::now() + grace;
  std::mutex mu;
  std::condition_variable cv;
  bool stopped = false;
  // Shutdown() below sends GOAWAY (no new calls) and blocks until every
  // connection is gone or the deadline passes. Once no call is in flight the
  // remaining connections carry nothing: close them (what Shutdown itself does
  // at the deadline) so an idle client cannot hold us.
  std::thread closer([&] {
    if (!calls->WaitIdle(std::chrono::milliseconds(2), deadline)) return;
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
