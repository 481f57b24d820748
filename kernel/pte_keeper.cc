#include "kernel/pte_keeper.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/file_read.h"
#include "common/numbers.h"
#include "common/status_macros.h"
#include "common/text_lines.h"
#include "kernel/child_reaper.h"
#include "kernel/idle_teardown.h"
#include "kernel/proc_stat.h"
#include "kernel/residency.h"

namespace khod {

namespace {

// The control protocol, one SOCK_SEQPACKET message per request and reply.
// Private to this file: both ends are this program.
enum Op : uint32_t {
  kOpMap = 1,       // an fd (SCM_RIGHTS) and its size: map it; reply: the address
  kOpPopulate = 2,  // `count` spans of the last file mapped; reply: pages populated
  kOpIdle = 3,      // reply, then wait for the socket to close
};
struct Request {
  uint32_t op;
  uint32_t count;
  uint64_t size;
};
struct Reply {
  int32_t err;
  uint32_t pad;
  uint64_t value;
};
constexpr size_t kSpansPerMessage = 4096;
constexpr int kControlFd = 3;
constexpr auto kReplyTimeout = std::chrono::seconds(120);

void SendReply(int fd, int err, uint64_t value) {
  Reply r{err, 0, value};
  (void)::send(fd, &r, sizeof(r), MSG_NOSIGNAL);
}

// Maps the pages of [first, first + count) of the file at `base` that exist
// now: mincore just before, as khod's own populate does, because populating
// a hole of a shared guest_memfd mapping allocates a page (the guest may have
// punched one since khod's capture named it). A run that fails whole (a
// private page) is retried page by page. A page punched between the mincore
// and the populate is allocated again, zeroed: nothing can guard a
// guest_memfd mapping (docs/DESIGN.md).
// Returns how many pages were mapped.
uint64_t Populate(uint8_t* base, uint64_t page, uint64_t first, uint64_t count,
                  std::vector<uint8_t>* resident) {
  resident->assign(count, 0);
  if (!Mincore(base + first * page, count, resident->data()).ok()) return 0;
  uint64_t done = 0;
  for (uint64_t i = 0; i < count;) {
    if (!((*resident)[i] & 1)) {
      ++i;
      continue;
    }
    uint64_t j = i + 1;
    while (j < count && ((*resident)[j] & 1)) ++j;
    if (PopulateRead(base + (first + i) * page, (j - i) * page).ok()) {
      done += j - i;
    } else {
      for (uint64_t k = i; k < j; ++k)
        if (PopulateRead(base + (first + k) * page, page).ok()) ++done;
    }
    i = j;
  }
  return done;
}

// Populate over the CPUs this process may use (at most kMaxPopulateThreads):
// one thread maps about 150 ms of pages per GiB on the machines measured, and
// Prepare waits for it. The threads are gone before the keeper goes idle.
constexpr int kMaxPopulateThreads = 32;
constexpr uint64_t kPagesPerPiece = 64 * 1024;  // 256 MiB: pieces the threads take in turn

uint64_t PopulateSpans(uint8_t* base, uint64_t page, uint64_t pages,
                       const std::vector<PageSpan>& spans) {
  std::vector<PageSpan> pieces;
  for (const PageSpan& s : spans) {
    const uint64_t first = std::min(s.first, pages), end = first + std::min(s.count, pages - first);
    for (uint64_t at = first; at < end; at += kPagesPerPiece)
      pieces.push_back(PageSpan{at, std::min(kPagesPerPiece, end - at)});
  }
  cpu_set_t cpus;
  const int allowed = ::sched_getaffinity(0, sizeof(cpus), &cpus) == 0 ? CPU_COUNT(&cpus) : 1;
  const size_t threads = std::min<size_t>(
      pieces.size(), static_cast<size_t>(std::clamp(allowed, 1, kMaxPopulateThreads)));
  std::atomic<size_t> next{0};
  std::atomic<uint64_t> done{0};
  auto work = [&] {
    std::vector<uint8_t> resident;
    for (size_t i = next++; i < pieces.size(); i = next++)
      done += Populate(base, page, pieces[i].first, pieces[i].count, &resident);
  };
  std::vector<std::thread> helpers;
  for (size_t t = 1; t < threads; ++t) helpers.emplace_back(work);
  work();
  for (std::thread& t : helpers) t.join();
  return done;
}

// Runs before main in a process started as kPteKeeperArgv0 (glibc passes
// argc and argv to constructors), so the keeper runs none of main's set-up.
__attribute__((constructor)) void RunIfPteKeeper(int argc, char** argv, char**) {
  if (argc == 1 && argv != nullptr && argv[0] != nullptr &&
      std::strcmp(argv[0], kPteKeeperArgv0) == 0)
    ::_exit(PteKeeperMain(kControlFd));
}

}  // namespace

int PteKeeperMain(int control_fd) {
  sigset_t all;
  sigfillset(&all);
  ::sigprocmask(SIG_BLOCK, &all, nullptr);
  // No fd of anyone's but the control socket: the mappings hold the files.
  if (control_fd > 0) ::syscall(SYS_close_range, 0u, static_cast<unsigned>(control_fd - 1), 0u);
  ::syscall(SYS_close_range, static_cast<unsigned>(control_fd + 1), ~0u, 0u);
  const uint64_t page = static_cast<uint64_t>(::getpagesize());
  static uint64_t buffer[(sizeof(Request) + kSpansPerMessage * sizeof(PageSpan)) / 8];
  uint8_t* base = nullptr;
  uint64_t pages = 0;
  for (;;) {
    alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {buffer, sizeof(buffer)};
    struct msghdr msg = {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    const ssize_t n = ::recvmsg(control_fd, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return 0;  // closed: khod is done with the keeper
    int fd = -1;
    for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
        std::memcpy(&fd, CMSG_DATA(c), sizeof(int));
    Request req;
    if (static_cast<size_t>(n) < sizeof(req)) return 2;
    std::memcpy(&req, buffer, sizeof(req));
    switch (req.op) {
      case kOpMap: {
        if (fd < 0 || req.size == 0) return 2;
        void* at = ::mmap(nullptr, req.size, PROT_READ, MAP_SHARED, fd, 0);
        const int err = at == MAP_FAILED ? errno : 0;
        ::close(fd);
        base = at == MAP_FAILED ? nullptr : static_cast<uint8_t*>(at);
        pages = base ? req.size / page : 0;
        SendReply(control_fd, err, reinterpret_cast<uint64_t>(base));
        break;
      }
      case kOpPopulate: {
        if (static_cast<size_t>(n) != sizeof(req) + req.count * sizeof(PageSpan) ||
            req.count > kSpansPerMessage)
          return 2;
        const auto* spans =
            reinterpret_cast<const PageSpan*>(reinterpret_cast<const char*>(buffer) + sizeof(req));
        const uint64_t done =
            base ? PopulateSpans(base, page, pages, std::vector<PageSpan>(spans, spans + req.count))
                 : 0;
        SendReply(control_fd, base ? 0 : EBADF, done);
        break;
      }
      case kOpIdle: {
        SendReply(control_fd, 0, 0);
        // Asleep from here on: nothing wakes it but the socket closing.
        for (;;) {
          char c;
          const ssize_t r = ::read(control_fd, &c, 1);
          if (r < 0 && errno == EINTR) continue;
          return 0;
        }
      }
      default:
        return 2;
    }
  }
}

Result<PteKeeperState> ParsePteKeeperState(std::string_view text) {
  PteKeeperState s;
  std::optional<uint64_t> rss, shmem, voluntary, nonvoluntary;
  Status st = ForEachLine(text, [&](std::string_view line) -> Status {
    if (auto v = FieldValue(line, "State:")) {
      if (v->empty()) return Status::Corruption("/proc/PID/status: State: is empty");
      s.state = (*v)[0];
    } else if (auto v = FieldValue(line, "RssFile:")) {
      rss = ConsumeU64(&*v);
      if (!rss || *v != " kB") return Status::Corruption("/proc/PID/status: bad RssFile line");
    } else if (auto v = FieldValue(line, "RssShmem:")) {
      shmem = ConsumeU64(&*v);
      if (!shmem || *v != " kB") return Status::Corruption("/proc/PID/status: bad RssShmem line");
    } else if (auto v = FieldValue(line, "voluntary_ctxt_switches:")) {
      voluntary = ParseU64(*v);
      if (!voluntary) return Status::Corruption("/proc/PID/status: bad voluntary_ctxt_switches");
    } else if (auto v = FieldValue(line, "nonvoluntary_ctxt_switches:")) {
      nonvoluntary = ParseU64(*v);
      if (!nonvoluntary)
        return Status::Corruption("/proc/PID/status: bad nonvoluntary_ctxt_switches");
    }
    return Status::Ok();
  });
  KHOD_RETURN_IF_ERROR(st);
  if (s.state == '?') return Status::Corruption("/proc/PID/status: no State:");
  if (!rss || !shmem)
    return Status::Corruption("/proc/PID/status: no RssFile: or RssShmem: (no address space?)");
  if (!voluntary || !nonvoluntary)
    return Status::Corruption("/proc/PID/status: no context switch counts");
  s.rss_file_kb = *rss;
  s.rss_shmem_kb = *shmem;
  s.context_switches = *voluntary + *nonvoluntary;
  return s;
}

PteKeeper& PteKeeper::operator=(PteKeeper&& o) noexcept {
  if (this != &o) {
    Release();
    pid_ = o.pid_;
    o.pid_ = -1;
    control_ = std::move(o.control_);
    pagemap_ = std::move(o.pagemap_);
    addresses_ = std::move(o.addresses_);
    populated_ = o.populated_;
  }
  return *this;
}

namespace {

Status SendRequest(int fd, const Request& req, const void* body, size_t body_bytes, int pass_fd) {
  struct iovec iov[2] = {{const_cast<Request*>(&req), sizeof(req)},
                         {const_cast<void*>(body), body_bytes}};
  struct msghdr msg = {};
  msg.msg_iov = iov;
  msg.msg_iovlen = body_bytes ? 2 : 1;
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  if (pass_fd >= 0) {
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
  }
  for (;;) {
    if (::sendmsg(fd, &msg, MSG_NOSIGNAL) >= 0) return Status::Ok();
    if (errno != EINTR) return Status::FromErrno("PTE keeper: send", errno);
  }
}

Result<uint64_t> ReceiveReply(int fd, const char* what) {
  struct pollfd p = {fd, POLLIN, 0};
  const int ms = static_cast<int>(std::chrono::milliseconds(kReplyTimeout).count());
  int r;
  while ((r = ::poll(&p, 1, ms)) < 0 && errno == EINTR) {
  }
  if (r < 0) return Status::FromErrno("PTE keeper: poll", errno);
  if (r == 0) return Status::Busy(std::string("PTE keeper: no reply to ") + what);
  Reply reply;
  ssize_t n;
  while ((n = ::recv(fd, &reply, sizeof(reply), 0)) < 0 && errno == EINTR) {
  }
  if (n < 0) return Status::FromErrno("PTE keeper: receive", errno);
  if (n != static_cast<ssize_t>(sizeof(reply)))
    return Status::Internal(std::string("PTE keeper exited before it answered ") + what);
  if (reply.err != 0) return Status::FromErrno(std::string("PTE keeper: ") + what, reply.err);
  return reply.value;
}

}  // namespace

Result<PteKeeper> PteKeeper::Spawn(const std::vector<PteKeeperFile>& files) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
    return Status::FromErrno("PTE keeper: socketpair", errno);
  UniqueFd ours(sv[0]), theirs(sv[1]);
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawnattr_init(&attr);
  // dup2 onto kControlFd clears its close-on-exec; every other fd of khod's
  // is close-on-exec, and the keeper closes any left.
  ::posix_spawn_file_actions_adddup2(&actions, theirs.get(), kControlFd);
  sigset_t all;
  sigfillset(&all);
  ::posix_spawnattr_setsigmask(&attr, &all);
  ::posix_spawnattr_setsigdefault(&attr, &all);
  ::posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  char argv0[sizeof(kPteKeeperArgv0)];
  std::memcpy(argv0, kPteKeeperArgv0, sizeof(argv0));
  char* argv[] = {argv0, nullptr};
  char* envp[] = {nullptr};
  pid_t pid = -1;
  // This very program: no path from anyone else (docs/SECURITY.md).
  const int err = ::posix_spawn(&pid, "/proc/self/exe", &actions, &attr, argv, envp);
  ::posix_spawn_file_actions_destroy(&actions);
  ::posix_spawnattr_destroy(&attr);
  if (err != 0) return Status::FromErrno("PTE keeper: posix_spawn /proc/self/exe", err);
  theirs.reset();
  PteKeeper k;
  k.pid_ = pid;
  k.control_ = std::move(ours);
  const int c = k.control_.get();
  for (const PteKeeperFile& f : files) {
    KHOD_RETURN_IF_ERROR(SendRequest(c, Request{kOpMap, 0, f.size}, nullptr, 0, f.fd));
    KHOD_ASSIGN_OR_RETURN(uint64_t address, ReceiveReply(c, "map"));
    k.addresses_.push_back(address);
    for (size_t at = 0; at < f.pages.size(); at += kSpansPerMessage) {
      const size_t n = std::min(kSpansPerMessage, f.pages.size() - at);
      KHOD_RETURN_IF_ERROR(SendRequest(c, Request{kOpPopulate, static_cast<uint32_t>(n), 0},
                                       &f.pages[at], n * sizeof(PageSpan), -1));
      KHOD_ASSIGN_OR_RETURN(uint64_t done, ReceiveReply(c, "populate"));
      k.populated_ += done;
    }
  }
  KHOD_RETURN_IF_ERROR(SendRequest(c, Request{kOpIdle, 0, 0}, nullptr, 0, -1));
  KHOD_RETURN_IF_ERROR(ReceiveReply(c, "idle").status());
  // Its reply is sent before it blocks: wait until it sleeps, so the state
  // a witness starts from is one it keeps.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  for (;;) {
    KHOD_ASSIGN_OR_RETURN(PteKeeperState s, k.State());
    if (s.state == 'S') break;
    if (std::chrono::steady_clock::now() > deadline)
      return Status::Busy("PTE keeper pid " + std::to_string(pid) + " did not go idle (state " +
                          std::string(1, s.state) + ")");
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
  const std::string pagemap = "/proc/" + std::to_string(pid) + "/pagemap";
  k.pagemap_ = UniqueFd(::open(pagemap.c_str(), O_RDONLY | O_CLOEXEC));
  if (!k.pagemap_.valid()) return Status::FromErrno("open " + pagemap, errno);
  return k;
}

Result<PteKeeper> PteKeeper::Adopt(pid_t pid, int control_fd) {
  struct stat st;
  if (control_fd < 0 || ::fstat(control_fd, &st) < 0 || !S_ISSOCK(st.st_mode))
    return Status::InvalidArgument("PTE keeper control fd " + std::to_string(control_fd) +
                                   " is not a socket");
  int type = 0;
  socklen_t len = sizeof(type);
  if (::getsockopt(control_fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_SEQPACKET)
    return Status::InvalidArgument("PTE keeper control fd " + std::to_string(control_fd) +
                                   " is not a SOCK_SEQPACKET socket");
  UniqueFd control(control_fd);  // a keeper's control socket: ours, kept or closed
  ::fcntl(control_fd, F_SETFD, FD_CLOEXEC);
  KHOD_RETURN_IF_ERROR(CheckOwnLiveChild(pid, "PTE keeper"));
  PteKeeper k;
  k.pid_ = pid;
  k.control_ = std::move(control);
  return k;
}

Status PteKeeper::PassAcrossExec() const {
  if (::fcntl(control_.get(), F_SETFD, 0) < 0)
    return Status::FromErrno("PTE keeper: clear close-on-exec", errno);
  return Status::Ok();
}

void PteKeeper::KeepFromExec() const { ::fcntl(control_.get(), F_SETFD, FD_CLOEXEC); }

Result<PteKeeperState> PteKeeper::State() const {
  if (pid_ <= 0) return Status::FailedPrecondition("no PTE keeper");
  FileReadOptions o;
  o.max_bytes = 64 << 10;  // /proc/PID/status is ~1.5 KiB
  o.too_large_why = "not a /proc/PID/status";
  KHOD_ASSIGN_OR_RETURN(std::string text,
                        ReadWholeFile("/proc/" + std::to_string(pid_) + "/status", o));
  return ParsePteKeeperState(text);
}

Result<std::vector<PageSpan>> PteKeeper::NonPresent(size_t i, uint64_t npages) const {
  if (i >= addresses_.size())
    return Status::InvalidArgument("PTE keeper: no file " + std::to_string(i));
  return NonPresentPages(pagemap_.get(), addresses_[i], npages);
}

void PteKeeper::Release() {
  if (pid_ <= 0) return;
  const pid_t pid = pid_;
  pid_ = -1;
  (void)SetIdleScheduling(pid);  // its exit unmaps every guest page it kept
  control_.reset();              // its read returns: it exits
  pagemap_.reset();
  addresses_.clear();
  ReapWhenItExits(pid);
}

}  // namespace khod
