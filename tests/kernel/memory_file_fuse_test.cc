// IdentifyMemoryFile is given whatever file a caller's fd holds, a FUSE file
// among them, whose server (the caller's) may never answer: it must refuse
// such a file without asking its filesystem anything. Before, its fstat sent
// the server a GETATTR (and its fstatfs a STATFS), which a server that never
// answered made khod wait on, with Attach holding the session's lock. The
// server here answers everything and records what it was asked.
// A refused file is closed, and the close of a FUSE file sends its server a
// FLUSH that the closer waits for as long as the server likes: khod closes a
// file it refused off the taker's thread (common/background_close.h), so no
// call, lock or start waits for that server.
#include <errno.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/fuse.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/background_close.h"
#include "kernel/memory_file.h"
#include "tests/support/session_fixture.h"

namespace khod {
namespace {

// A FUSE filesystem of one regular file, "f", served on its own thread from
// /dev/fuse: attributes never cached (attr_valid 0), so a stat that asks
// the filesystem sends a GETATTR every time. Records the opcodes it is sent
// while Watch(true).
class OneFileFuse {
 public:
  // Empty on success, else why the filesystem could not be mounted.
  std::string Mount(const std::string& dir) {
    dir_ = dir;
    dev_ = ::open("/dev/fuse", O_RDWR | O_CLOEXEC);
    if (dev_ < 0) return std::string("open /dev/fuse: ") + std::strerror(errno);
    const std::string opts = "fd=" + std::to_string(dev_) + ",rootmode=40000,user_id=0,group_id=0";
    if (::mount("khod-test", dir.c_str(), "fuse", MS_NOSUID | MS_NODEV, opts.c_str()) != 0)
      return std::string("mount fuse: ") + std::strerror(errno);
    mounted_ = true;
    server_ = std::thread([this] { Serve(); });
    struct stat st;
    if (::stat(dir.c_str(), &st) == 0) connection_ = minor(st.st_dev);
    return "";
  }
  const std::string& dir() const { return dir_; }
  void Watch(bool on) { watching_ = on; }
  // While on, a FLUSH is left unanswered (the closer waits); off answers
  // those left.
  void HoldFlushes(bool on) {
    std::vector<uint64_t> held;
    {
      std::lock_guard<std::mutex> l(mu_);
      hold_flushes_ = on;
      if (!on) held.swap(held_);
    }
    for (uint64_t unique : held) Reply(unique, 0);
  }
  // Whether a FLUSH is left unanswered within `timeout`.
  bool WaitForHeldFlush(std::chrono::seconds timeout) {
    std::unique_lock<std::mutex> l(mu_);
    return held_cv_.wait_for(l, timeout, [this] { return !held_.empty(); });
  }
  std::vector<uint32_t> Watched() {
    std::lock_guard<std::mutex> l(mu_);
    return watched_;
  }
  // Unmounts and ends the connection: the server's read fails (ENODEV) and
  // its thread returns.
  ~OneFileFuse() {
    if (mounted_) {
      ::umount2(dir_.c_str(), MNT_DETACH);
      const std::string abort =
          "/sys/fs/fuse/connections/" + std::to_string(connection_) + "/abort";
      const int fd = ::open(abort.c_str(), O_WRONLY | O_CLOEXEC);
      if (fd >= 0) {
        (void)::write(fd, "1", 1);
        ::close(fd);
      }
    }
    if (server_.joinable()) server_.join();
    if (dev_ >= 0) ::close(dev_);
  }

 private:
  static fuse_attr Attr(uint64_t nodeid) {
    fuse_attr a{};
    a.ino = nodeid;
    a.nlink = 1;
    a.blksize = 4096;
    if (nodeid == FUSE_ROOT_ID) {
      a.mode = S_IFDIR | 0755;
    } else {
      a.mode = S_IFREG | 0644;
      a.size = 4096;
      a.blocks = 8;
    }
    return a;
  }
  void Reply(uint64_t unique, int error, const void* body = nullptr, size_t size = 0) {
    std::vector<char> out(sizeof(fuse_out_header) + size);
    fuse_out_header h{};
    h.len = static_cast<uint32_t>(out.size());
    h.error = error;
    h.unique = unique;
    std::memcpy(out.data(), &h, sizeof(h));
    if (size) std::memcpy(out.data() + sizeof(h), body, size);
    (void)::write(dev_, out.data(), out.size());
  }
  void Serve() {
    std::vector<char> buf(FUSE_MIN_READ_BUFFER + 128 * 1024);
    for (;;) {
      const ssize_t n = ::read(dev_, buf.data(), buf.size());
      if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == ENOENT)) continue;
      if (n < static_cast<ssize_t>(sizeof(fuse_in_header))) return;  // ENODEV: unmounted
      fuse_in_header in;
      std::memcpy(&in, buf.data(), sizeof(in));
      const char* arg = buf.data() + sizeof(in);
      if (watching_) {
        std::lock_guard<std::mutex> l(mu_);
        watched_.push_back(in.opcode);
      }
      switch (in.opcode) {
        case FUSE_INIT: {
          fuse_init_out o{};
          o.major = FUSE_KERNEL_VERSION;
          o.minor = FUSE_KERNEL_MINOR_VERSION;
          o.max_readahead = reinterpret_cast<const fuse_init_in*>(arg)->max_readahead;
          o.max_write = 4096;
          Reply(in.unique, 0, &o, sizeof(o));
          break;
        }
        case FUSE_LOOKUP: {
          if (in.nodeid != FUSE_ROOT_ID || std::strcmp(arg, "f") != 0) {
            Reply(in.unique, -ENOENT);
            break;
          }
          fuse_entry_out o{};
          o.nodeid = 2;
          o.attr = Attr(2);
          Reply(in.unique, 0, &o, sizeof(o));
          break;
        }
        case FUSE_GETATTR: {
          fuse_attr_out o{};
          o.attr = Attr(in.nodeid);
          Reply(in.unique, 0, &o, sizeof(o));
          break;
        }
        case FUSE_OPEN: {
          fuse_open_out o{};
          o.fh = 1;
          Reply(in.unique, 0, &o, sizeof(o));
          break;
        }
        case FUSE_STATFS: {
          fuse_statfs_out o{};
          o.st.bsize = 4096;
          o.st.namelen = 255;
          o.st.frsize = 4096;
          Reply(in.unique, 0, &o, sizeof(o));
          break;
        }
        case FUSE_FLUSH:
          if (!Held(in.unique)) Reply(in.unique, 0);
          break;
        case FUSE_RELEASE:
        case FUSE_RELEASEDIR:
        case FUSE_DESTROY:
          Reply(in.unique, 0);
          break;
        case FUSE_FORGET:
        case FUSE_BATCH_FORGET:
        case FUSE_INTERRUPT:
          break;  // no reply
        default:
          Reply(in.unique, -ENOSYS);
      }
    }
  }

  // Whether the FLUSH `unique` is left unanswered (HoldFlushes).
  bool Held(uint64_t unique) {
    std::lock_guard<std::mutex> l(mu_);
    if (!hold_flushes_) return false;
    held_.push_back(unique);
    held_cv_.notify_all();
    return true;
  }

  std::string dir_;
  int dev_ = -1;
  bool mounted_ = false;
  unsigned connection_ = 0;  // the connection's number under /sys/fs/fuse/connections
  std::thread server_;
  std::atomic<bool> watching_{false};
  std::mutex mu_;
  std::vector<uint32_t> watched_;
  bool hold_flushes_ = false;
  std::vector<uint64_t> held_;  // FLUSHes left unanswered, by their unique
  std::condition_variable held_cv_;
};

// Mounts OneFileFuse in a new directory under TEST_TMPDIR for `body`, FLUSHes
// held when `hold_flushes`, and opens its file; skips where FUSE cannot be
// mounted. The FLUSHes are answered, the file closed, the filesystem
// unmounted and the directory removed after `body`, whatever it asserted.
void WithFuseFile(bool hold_flushes,
                  const std::function<void(OneFileFuse& fs, int fuse_fd)>& body) {
  if (::geteuid() != 0) GTEST_SKIP() << "mounting a FUSE filesystem needs root";
  const char* tmp = std::getenv("TEST_TMPDIR");
  std::string dir = std::string(tmp ? tmp : "/tmp") + "/fuse-XXXXXX";
  ASSERT_NE(::mkdtemp(dir.data()), nullptr) << std::strerror(errno);
  {
    OneFileFuse fs;
    if (const std::string why = fs.Mount(dir); !why.empty()) {
      ::rmdir(dir.c_str());
      GTEST_SKIP() << "no FUSE here: " << why;
    }
    const int fuse_fd = ::open((dir + "/f").c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fuse_fd, 0) << std::strerror(errno);
    fs.HoldFlushes(hold_flushes);
    body(fs, fuse_fd);
    fs.HoldFlushes(false);
    ::close(fuse_fd);
  }
  ::rmdir(dir.c_str());
}

TEST(MemoryFileFuseTest, AFuseFileIsRefusedWithoutAskingItsServer) {
  WithFuseFile(/*hold_flushes=*/false, [](OneFileFuse& fs, int fd) {
    struct stat st;
    ASSERT_EQ(::fstat(fd, &st), 0);  // the server answers GETATTR: asked it is seen
    fs.Watch(true);
    ASSERT_EQ(::fstat(fd, &st), 0);
    ASSERT_FALSE(fs.Watched().empty()) << "an fstat that asks the server is not seen";
    fs.Watch(false);
    const size_t before = fs.Watched().size();

    fs.Watch(true);
    Result<MemoryFileIdentity> id = IdentifyMemoryFile(fd, "fd 9 of pid 77");
    fs.Watch(false);
    const std::vector<uint32_t> asked = fs.Watched();
    ASSERT_FALSE(id.ok());
    EXPECT_EQ(id.status().code(), Status::Code::kFailedPrecondition) << id.status().ToString();
    EXPECT_NE(id.status().message().find("fd 9 of pid 77 (" + fs.dir() +
                                         "/f) is a regular file, not a guest_memfd, memfd or "
                                         "hugetlbfs file"),
              std::string::npos)
        << id.status().message();
    for (size_t i = before; i < asked.size(); ++i)
      ADD_FAILURE() << "IdentifyMemoryFile sent the FUSE server opcode " << asked[i] << " (GETATTR "
                    << FUSE_GETATTR << ", STATFS " << FUSE_STATFS << ")";
  });
}

// Answers the FLUSHes held when it goes: declared after a future that may
// wait on one, so that a failed assertion never leaves the future's thread
// waiting for an answer that would not come.
struct AnswerHeldFlushes {
  OneFileFuse& fs;
  ~AnswerHeldFlushes() { fs.HoldFlushes(false); }
};

// Whether every background close is done within `timeout`.
bool BackgroundClosesDone(std::chrono::seconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (BackgroundClosesPending() != 0) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

// A file taken from a process and refused is closed off the taker's thread:
// its FUSE server holding the close's FLUSH holds up no one; the close ends
// once the server answers.
TEST(MemoryFileFuseTest, ARefusedFileIsClosedWithoutWaitingForItsServer) {
  WithFuseFile(/*hold_flushes=*/true, [](OneFileFuse& fs, int fuse_fd) {
    ASSERT_EQ(BackgroundClosesPending(), 0u);
    std::future<Result<TakenMemoryFile>> taking = std::async(
        std::launch::async, [&] { return TakeMemoryFileFromProcess(::getpid(), fuse_fd); });
    const AnswerHeldFlushes answer_at_the_end{fs};
    ASSERT_EQ(taking.wait_for(std::chrono::seconds(10)), std::future_status::ready)
        << "the refusal waited for the server's answer to its close";
    Result<TakenMemoryFile> taken = taking.get();
    ASSERT_FALSE(taken.ok());
    EXPECT_EQ(taken.status().code(), Status::Code::kFailedPrecondition)
        << taken.status().ToString();
    EXPECT_NE(taken.status().message().find("fd " + std::to_string(fuse_fd) + " of pid " +
                                            std::to_string(::getpid())),
              std::string::npos)
        << taken.status().message();
    EXPECT_TRUE(fs.WaitForHeldFlush(std::chrono::seconds(30)))
        << "the refused file's close sent no FLUSH";
    EXPECT_EQ(BackgroundClosesPending(), 1u);
    fs.HoldFlushes(false);
    EXPECT_TRUE(BackgroundClosesDone(std::chrono::seconds(30)));
  });
}

// Each refused file closes on a thread of its own, so a close the server
// holds holds up no other; at most kMaxBackgroundCloses are under way, and
// a take is refused while that many are, naming why and what frees them.
TEST(MemoryFileFuseTest, ClosesTheServerHoldsAreBoundedAndHoldUpNoOtherClose) {
  WithFuseFile(/*hold_flushes=*/true, [](OneFileFuse& fs, int fuse_fd) {
    const AnswerHeldFlushes answer_at_the_end{fs};
    for (size_t i = 0; i < kMaxBackgroundCloses; ++i)
      ASSERT_FALSE(TakeMemoryFileFromProcess(::getpid(), fuse_fd).ok());
    EXPECT_EQ(BackgroundClosesPending(), kMaxBackgroundCloses);
    // One more take is refused before anything is taken...
    Result<TakenMemoryFile> full = TakeMemoryFileFromProcess(::getpid(), fuse_fd);
    ASSERT_FALSE(full.ok());
    EXPECT_EQ(full.status().code(), Status::Code::kResourceExhausted) << full.status().ToString();
    EXPECT_NE(full.status().message().find("khod is still closing " +
                                           std::to_string(kMaxBackgroundCloses) + " files"),
              std::string::npos)
        << full.status().message();
    fs.HoldFlushes(false);
    EXPECT_TRUE(BackgroundClosesDone(std::chrono::seconds(30)));
    // ...and once they end, a close that waits on nothing ends at once.
    int pipe_fds[2];
    ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
    EXPECT_FALSE(TakeMemoryFileFromProcess(::getpid(), pipe_fds[0]).ok());
    EXPECT_TRUE(BackgroundClosesDone(std::chrono::seconds(30)));
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
  });
}

class FuseSessionTest : public SessionTest {};

// One caller's Attach names a FUSE file whose server does not answer the
// FLUSH of its close: Attach refuses the file at once, and another caller's
// Attach of a memfd completes, while the close waits off both their threads.
TEST_F(FuseSessionTest, AnAttachOfAFuseFileWhoseServerHoldsItsCloseHoldsUpNoCall) {
  WithFuseFile(/*hold_flushes=*/true, [&](OneFileFuse& fs, int fuse_fd) {
    std::unique_ptr<Session> s = Open();
    ASSERT_TRUE(s);
    v1::AttachRequest fuse_req = KernelAttach(fuse_fd);
    fuse_req.set_name("fuse");
    fuse_req.set_vm_token(0);
    fuse_req.clear_memslots();
    std::future<Result<v1::GmemInfo>> refusing =
        std::async(std::launch::async, [&] { return s->Attach(fuse_req); });
    const AnswerHeldFlushes answer_at_the_end{fs};
    ASSERT_EQ(refusing.wait_for(std::chrono::seconds(10)), std::future_status::ready)
        << "the Attach waited for its FUSE server's answer to the close";
    Result<v1::GmemInfo> refused = refusing.get();
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.status().code(), Status::Code::kFailedPrecondition)
        << refused.status().ToString();
    EXPECT_NE(refused.status().message().find("Attach: fd " + std::to_string(fuse_fd) + " of pid " +
                                              std::to_string(::getpid()) + " ("),
              std::string::npos)
        << refused.status().message();
    EXPECT_NE(refused.status().message().find(
                  "/f) is a regular file, not a guest_memfd, memfd or hugetlbfs file"),
              std::string::npos)
        << refused.status().message();
    EXPECT_TRUE(fs.WaitForHeldFlush(std::chrono::seconds(30)))
        << "the refused FUSE file's close sent no FLUSH";
    std::future<Result<v1::GmemInfo>> other =
        std::async(std::launch::async, [&] { return s->Attach(KernelAttach(memfd_)); });
    ASSERT_EQ(other.wait_for(std::chrono::seconds(10)), std::future_status::ready)
        << "an Attach of a memfd waited for another caller's FUSE FLUSH";
    Result<v1::GmemInfo> attached = other.get();
    EXPECT_TRUE(attached.ok()) << attached.status().ToString();
    fs.HoldFlushes(false);
    EXPECT_TRUE(BackgroundClosesDone(std::chrono::seconds(30)));
  });
}

// A VMM that put a FUSE file where the recorded fd was: khod's start takes it
// again from the VMM, refuses it, and serves without waiting for the close.
TEST_F(FuseSessionTest, AStartThatFindsAFuseFileAtTheRecordedFdDoesNotWaitForItsServer) {
  {
    std::unique_ptr<Session> s = Open();
    ASSERT_TRUE(s);
    ASSERT_TRUE(s->Attach(KernelAttach(memfd_)).ok());
    ASSERT_TRUE(s->Prepare().ok());
  }
  WithFuseFile(/*hold_flushes=*/true, [&](OneFileFuse& fs, int fuse_fd) {
    // The recorded fd now names the FUSE file (the memfd it held is closed).
    ASSERT_EQ(::dup3(fuse_fd, memfd_, O_CLOEXEC), memfd_) << std::strerror(errno);
    // Whatever is asserted below, the FUSE file leaves memfd_ before the
    // filesystem goes: its server answers no close after that.
    struct PutAMemfdBack {
      OneFileFuse& fs;
      int at;
      ~PutAMemfdBack() {
        fs.HoldFlushes(false);
        const int fresh = ::memfd_create("put-back", MFD_CLOEXEC);
        if (fresh >= 0) {
          (void)::dup3(fresh, at, O_CLOEXEC);
          ::close(fresh);
        }
      }
    } put_back{fs, memfd_};
    std::future<Result<std::unique_ptr<Session>>> opening =
        std::async(std::launch::async, [&] { return Session::Open(Opts(), &opener_); });
    const AnswerHeldFlushes answer_at_the_end{fs};
    ASSERT_EQ(opening.wait_for(std::chrono::seconds(10)), std::future_status::ready)
        << "khod's start waited for a FUSE server's answer to a close";
    Result<std::unique_ptr<Session>> opened = opening.get();
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    const std::string r = (*opened)->recovery();
    EXPECT_EQ((*opened)->phase(), v1::IDLE) << r;
    EXPECT_NE(r.find("is a regular file, not a guest_memfd, memfd or hugetlbfs file"),
              std::string::npos)
        << r;
    EXPECT_TRUE(fs.WaitForHeldFlush(std::chrono::seconds(30)));
    fs.HoldFlushes(false);
    EXPECT_TRUE(BackgroundClosesDone(std::chrono::seconds(30)));
  });
}

// An exec waits for every thread of khod, and a close the server holds
// never ends: a reexec Freeze is refused while one is under way, PREPARED
// kept, and works once the server answers.
TEST_F(FuseSessionTest, AReexecFreezeIsRefusedWhileAServerHoldsAClose) {
  WithFuseFile(/*hold_flushes=*/true, [&](OneFileFuse& fs, int fuse_fd) {
    const AnswerHeldFlushes answer_at_the_end{fs};
    std::unique_ptr<Session> s = Open();
    ASSERT_TRUE(s);
    ASSERT_TRUE(s->Attach(KernelAttach(memfd_)).ok());
    ASSERT_TRUE(s->Prepare().ok());
    ASSERT_FALSE(TakeMemoryFileFromProcess(::getpid(), fuse_fd).ok());
    ASSERT_TRUE(fs.WaitForHeldFlush(std::chrono::seconds(30)));
    Result<v1::PhaseReply> f = s->Freeze(PausedFreeze(v1::REEXEC));
    ASSERT_FALSE(f.ok());
    EXPECT_EQ(f.status().code(), Status::Code::kFailedPrecondition) << f.status().ToString();
    EXPECT_NE(f.status().message().find("a reexec would wait for khod's 1 closes of refused files"),
              std::string::npos)
        << f.status().message();
    EXPECT_EQ(s->phase(), v1::PREPARED);
    fs.HoldFlushes(false);
    EXPECT_TRUE(BackgroundClosesDone(std::chrono::seconds(30)));
    f = s->Freeze(PausedFreeze(v1::REEXEC));
    EXPECT_TRUE(f.ok()) << f.status().ToString();
  });
}

}  // namespace
}  // namespace khod
