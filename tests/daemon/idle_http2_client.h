// IdleHttp2Client: the client's half of an HTTP/2 connection to a gRPC
// server that says hello (the preface, its SETTINGS and the ack of the
// server's) and then reads nothing and never hangs up: what an idle
// synchronous gRPC client is to the server, since nothing polls its socket.
// It never answers the GOAWAY and PING of a graceful shutdown, so a server
// that waits for its clients to close waits for gRPC's own graceful-GOAWAY
// timer, which ends with a GOAWAY of NO_ERROR; a server that closes the
// connection itself (grpc_server_cancel_all_calls, daemon/inflight_calls.h
// StopServer) ends it with a GOAWAY of an error code. What the server sent is
// kept, and read whole once the test has stopped the server.
#ifndef KHOD_TESTS_DAEMON_IDLE_HTTP2_CLIENT_H_
#define KHOD_TESTS_DAEMON_IDLE_HTTP2_CLIENT_H_

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <string>

namespace khod {

class IdleHttp2Client {
 public:
  // Takes `fd`, connected to the server.
  explicit IdleHttp2Client(int fd) : fd_(fd) {}
  // Connected to the unix socket at `path` (fd -1 when that failed).
  static IdleHttp2Client ToUnixSocket(const std::string& path) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
    if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
      ::close(fd);
      return IdleHttp2Client(-1);
    }
    return IdleHttp2Client(fd);
  }
  IdleHttp2Client(IdleHttp2Client&& o) noexcept : fd_(o.fd_), got_(std::move(o.got_)) {
    o.fd_ = -1;
  }
  IdleHttp2Client& operator=(IdleHttp2Client&&) = delete;
  ~IdleHttp2Client() { HangUp(); }

  // The preface and an empty SETTINGS; the server's SETTINGS (within
  // `timeout_ms`: the connection is up on its side), then their ack. False
  // when any step fails.
  bool Hello(int timeout_ms) {
    const std::string hello = std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") + Frame(kSettings, 0);
    if (!WriteAll(hello)) return false;
    while (!HasFrame(kSettings)) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, timeout_ms) != 1) return false;
      char buf[4096];
      const ssize_t n = ::read(fd_, buf, sizeof(buf));
      if (n <= 0) return false;
      got_.append(buf, static_cast<size_t>(n));
    }
    return WriteAll(Frame(kSettings, kAck));
  }

  // Reads what the server sent until it closed the connection; false after
  // `timeout_ms` with the connection still open.
  bool ReadUntilClosed(int timeout_ms) {
    for (;;) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, timeout_ms) != 1) return false;
      char buf[4096];
      const ssize_t n = ::read(fd_, buf, sizeof(buf));
      if (n <= 0) return true;  // EOF, or reset: closed either way
      got_.append(buf, static_cast<size_t>(n));
    }
  }

  // The last GOAWAY the server sent: whether there was one, its error code
  // (0 NO_ERROR) and debug data.
  struct GoAway {
    bool seen = false;
    uint32_t error = 0;
    std::string debug;
  };
  GoAway LastGoAway() const {
    GoAway last;
    ForEachFrame([&](int type, const std::string& payload) {
      if (type != kGoAway || payload.size() < 8) return;
      last.seen = true;
      last.error = Be(payload, 4, 4);
      last.debug = payload.substr(8);
    });
    return last;
  }

  void HangUp() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int fd() const { return fd_; }

 private:
  static constexpr int kSettings = 4, kGoAway = 7, kAck = 1;

  static std::string Frame(int type, int flags) {
    const char h[9] = {0, 0, 0, static_cast<char>(type), static_cast<char>(flags), 0, 0, 0, 0};
    return std::string(h, sizeof(h));
  }
  static uint32_t Be(const std::string& s, size_t at, size_t bytes) {
    uint32_t v = 0;
    for (size_t i = 0; i < bytes; ++i) v = v << 8 | static_cast<unsigned char>(s[at + i]);
    return v;
  }
  template <typename Fn>
  void ForEachFrame(Fn fn) const {
    // The server sends no preface: its frames start at byte 0.
    for (size_t at = 0; at + 9 <= got_.size();) {
      const size_t len = Be(got_, at, 3);
      if (at + 9 + len > got_.size()) break;
      fn(static_cast<unsigned char>(got_[at + 3]), got_.substr(at + 9, len));
      at += 9 + len;
    }
  }
  bool HasFrame(int type) const {
    bool has = false;
    ForEachFrame([&](int t, const std::string&) { has |= t == type; });
    return has;
  }
  bool WriteAll(const std::string& s) {
    for (size_t at = 0; at < s.size();) {
      const ssize_t n = ::write(fd_, s.data() + at, s.size() - at);
      if (n <= 0) return false;
      at += static_cast<size_t>(n);
    }
    return true;
  }

  int fd_;
  std::string got_;  // every byte the server sent
};

}  // namespace khod

#endif  // KHOD_TESTS_DAEMON_IDLE_HTTP2_CLIENT_H_
