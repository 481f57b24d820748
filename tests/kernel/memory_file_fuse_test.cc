// IdentifyMemoryFile is given whatever file a caller's fd holds, a FUSE file
// among them, whose server (the caller's) may never answer: it must refuse
// such a file without asking its filesystem anything. Before, its fstat sent
// the server a GETATTR (and its fstatfs a STATFS), which a server that never
// answered made khod wait on, with Attach holding the session's lock. The
// server here answers everything and records what it was asked.
#include <errno.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/fuse.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "kernel/memory_file.h"

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
  void Watch(bool on) { watching_ = on; }
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

  std::string dir_;
  int dev_ = -1;
  bool mounted_ = false;
  unsigned connection_ = 0;  // the connection's number under /sys/fs/fuse/connections
  std::thread server_;
  std::atomic<bool> watching_{false};
  std::mutex mu_;
  std::vector<uint32_t> watched_;
};

TEST(MemoryFileFuseTest, AFuseFileIsRefusedWithoutAskingItsServer) {
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
    const int fd = ::open((dir + "/f").c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0) << std::strerror(errno);
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
    ::close(fd);
    ASSERT_FALSE(id.ok());
    EXPECT_EQ(id.status().code(), Status::Code::kFailedPrecondition) << id.status().ToString();
    EXPECT_NE(id.status().message().find("fd 9 of pid 77 (" + dir +
                                         "/f) is a regular file, not a guest_memfd, memfd or "
                                         "hugetlbfs file"),
              std::string::npos)
        << id.status().message();
    for (size_t i = before; i < asked.size(); ++i)
      ADD_FAILURE() << "IdentifyMemoryFile sent the FUSE server opcode " << asked[i] << " (GETATTR "
                    << FUSE_GETATTR << ", STATFS " << FUSE_STATFS << ")";
  }
  ::rmdir(dir.c_str());
}

}  // namespace
}  // namespace khod
