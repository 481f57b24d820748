#include "daemon/metrics_textfile.h"

#include <cstdio>

#include "daemon/metrics_exposition.h"
#include "daemon/record_file.h"

namespace khod {

MetricsTextfile::MetricsTextfile(std::string path, std::function<v1::StatusReply()> status)
    : path_(std::move(path)), status_(std::move(status)) {}

MetricsTextfile::~MetricsTextfile() { Stop(); }

void MetricsTextfile::Start() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = false;
    dirty_ = true;
  }
  thread_ = std::thread([this] { Loop(); });
}

void MetricsTextfile::Changed() {
  std::lock_guard<std::mutex> l(mu_);
  dirty_ = true;
  cv_.notify_one();
}

void MetricsTextfile::Verified(const v1::VerifyReply& reply) {
  std::lock_guard<std::mutex> l(mu_);
  last_verify_ = reply;
  dirty_ = true;
  cv_.notify_one();
}

void MetricsTextfile::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
    cv_.notify_one();
  }
  if (thread_.joinable()) thread_.join();
}

Status MetricsTextfile::WriteNow() {
  std::lock_guard<std::mutex> w(write_mu_);
  std::optional<v1::VerifyReply> verify;
  {
    std::lock_guard<std::mutex> l(mu_);
    dirty_ = false;
    verify = last_verify_;
  }
  const std::string text = RenderMetrics(status_(), verify ? &*verify : nullptr);
  // Readable by a collector that is not root, from the moment it has the name.
  return WriteFileAtomically(path_, text, 0644);
}

void MetricsTextfile::Loop() {
  bool reported = false;  // a failing write is logged once, not at every change
  for (;;) {
    {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait(l, [this] { return dirty_ || stop_; });
      if (stop_) return;
    }
    Status s = WriteNow();
    if (!s.ok() && !reported)
      std::fprintf(stderr, "khod: --metrics-textfile: %s\n", s.ToString().c_str());
    reported = !s.ok();
  }
}

}  // namespace khod
