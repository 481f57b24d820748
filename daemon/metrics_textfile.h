// --metrics-textfile=PATH: khod's metrics (daemon/metrics_exposition.h)
// rewritten at every change of the session's durable state (each phase
// change is one) and after every Verify, for node_exporter's textfile
// collector. Written by a thread of its own, so no call waits for it: the
// file is replaced atomically (a temporary in the same directory, fsync'd,
// renamed over it), so a reader sees the previous file or the next, never a
// torn one, and mode 0644 so a collector not running as root can read it.
#ifndef KHOD_DAEMON_METRICS_TEXTFILE_H_
#define KHOD_DAEMON_METRICS_TEXTFILE_H_

#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "common/status.h"
#include "proto/khod.pb.h"

namespace khod {

class MetricsTextfile {
 public:
  // `status` is called on the writer thread (Session::GetStatus).
  MetricsTextfile(std::string path, std::function<v1::StatusReply()> status);
  ~MetricsTextfile();  // Stop()

  // Starts the writer thread, which writes the file at once.
  void Start();
  // Something changed: the file is rewritten soon (changes coalesce; while
  // stopped, at the next Start).
  void Changed();
  void Verified(const v1::VerifyReply& reply);
  // Waits for a write in progress and ends the thread (before khod stops or
  // re-executes; the next khod writes its own file at start).
  void Stop();
  // Renders and writes now, on the calling thread.
  Status WriteNow();

 private:
  void Loop();
  const std::string path_;
  const std::function<v1::StatusReply()> status_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool dirty_ = false;
  bool stop_ = false;
  std::optional<v1::VerifyReply> last_verify_;  // guarded by mu_
  std::mutex write_mu_;                         // one write at a time
  std::thread thread_;
};

}  // namespace khod

#endif  // KHOD_DAEMON_METRICS_TEXTFILE_H_
