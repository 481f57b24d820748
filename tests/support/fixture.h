// The set-up khod's tests share: a TempDir that removes itself and a TestMemfd of this process.
// A test makes its files only beneath a TempDir, so nothing it makes outlives it.
#ifndef KHOD_TESTS_SUPPORT_FIXTURE_H_
#define KHOD_TESTS_SUPPORT_FIXTURE_H_

#include <dirent.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

namespace khod {

// A fresh directory, removed with all it holds when the TempDir goes:
// $TEST_TMPDIR/khod-<label>.XXXXXX (TEST_TMPDIR is Bazel's directory of this test), or
// /tmp/khod-<tag>-<label>.XXXXXX where TEST_TMPDIR is unset or cannot serve the Use. <tag> is
// $KHOD_TEST_TAG (scripts/test.sh sets one per checkout and fails the run if an entry with its tag
// is left in /tmp), else "test".
class TempDir {
 public:
  enum class Use {
    kFiles,            // files only
    kSocket,           // a unix socket path, "/" and up to kSocketRoom bytes, beneath it
    kSocketForOthers,  // kSocket, reached by a child that drops to another uid: the directory
                       // is 0755, under directories others can search
  };
  static constexpr size_t kSocketRoom = 24;

  explicit TempDir(std::string_view label, Use use = Use::kFiles) {
    const char* test_tmpdir = std::getenv("TEST_TMPDIR");
    const char* tag = std::getenv("KHOD_TEST_TAG");
    std::string t = "/tmp/khod-" + std::string(tag != nullptr && *tag != '\0' ? tag : "test") +
                    "-" + std::string(label) + ".XXXXXX";
    if (test_tmpdir != nullptr && *test_tmpdir == '/') {
      const std::string in_test_tmpdir =
          std::string(test_tmpdir) + "/khod-" + std::string(label) + ".XXXXXX";
      const bool fits = in_test_tmpdir.size() + 1 + kSocketRoom < sizeof(sockaddr_un{}.sun_path);
      if (use == Use::kFiles || (fits && use == Use::kSocket) ||
          (fits && OthersCanSearch(test_tmpdir))) {
        t = in_test_tmpdir;
      }
    }
    if (::mkdtemp(t.data()) == nullptr ||
        (use == Use::kSocketForOthers && ::chmod(t.c_str(), 0755) != 0)) {
      std::fprintf(stderr, "TempDir: %s: %s\n", t.c_str(), std::strerror(errno));
      std::abort();
    }
    path_ = t;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
    if (ec)
      std::fprintf(stderr, "TempDir: cannot remove %s: %s\n", path_.c_str(), ec.message().c_str());
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path() + "/" + name.
  std::string Join(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  // Whether `dir` and each directory above it let others search them.
  static bool OthersCanSearch(std::string dir) {
    while (!dir.empty()) {
      struct stat st;
      if (::stat(dir.c_str(), &st) != 0 || (st.st_mode & S_IXOTH) == 0) return false;
      dir.resize(dir.find_last_of('/'));
    }
    return true;
  }

  std::string path_;
};

// Forks a child that exits (0) once `*release`, the write end of its pipe, is closed wherever
// it is: the child does not hold it, and the caller, or a program it execs (the end is not
// close-on-exec), ends the child by closing it. -1 when the pipe or the fork fails.
inline pid_t ForkChildUntilReleased(int* release) {
  int p[2];
  if (::pipe(p) != 0) return -1;
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(p[1]);
    char c;
    while (::read(p[0], &c, 1) > 0) {
    }
    ::_exit(0);
  }
  ::close(p[0]);
  if (pid < 0) {
    ::close(p[1]);
    return -1;
  }
  *release = p[1];
  return pid;
}

// Runs `use` with the id of a live thread of this process that does not lead its group (a
// thread alive until `use` returns), and returns what `use` returns.
template <typename Use>
auto WithAnotherThreadsId(Use use) -> decltype(use(pid_t{})) {
  int release[2];
  if (::pipe(release) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
  std::promise<pid_t> tid;
  std::future<pid_t> known = tid.get_future();
  // Blocked on the pipe until its write end closes.
  std::thread t([&tid, &release] {
    tid.set_value(static_cast<pid_t>(::syscall(SYS_gettid)));
    char c;
    while (::read(release[0], &c, 1) > 0) {
    }
  });
  auto result = use(known.get());
  ::close(release[1]);
  t.join();
  ::close(release[0]);
  return result;
}

// How child `child` of this process ended, once waited for: "exit N", "signal N", or why it
// could not be waited for. A test that runs its checks in a child (to close its standard fds,
// or lower its limits) expects "exit 0" and names what each other code means.
inline std::string ChildEnd(pid_t child) {
  int status = 0;
  if (::waitpid(child, &status, 0) != child)
    return "not waited for: " + std::string(std::strerror(errno));
  if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "signal " + std::to_string(WTERMSIG(status));
  return "status " + std::to_string(status);
}

// What is at `path`, the last component never followed (lstat).
inline bool IsRegular(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}
inline bool IsLink(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode);
}
inline bool IsDir(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// The bytes of the file at `path` ("" when it cannot be read).
inline std::string ReadTestFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The names in directory `dir` but "." and "..", in readdir order.
inline std::vector<std::string> DirNames(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  while (dirent* e = d ? ::readdir(d) : nullptr)
    if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") out.push_back(e->d_name);
  if (d) ::closedir(d);
  return out;
}

// A memfd of `size` bytes of this process, holes until Fill writes some: what a VMM's guest
// memory looks like to khod's shmem capture. Closed when the TestMemfd goes, unless Release()d.
class TestMemfd {
 public:
  explicit TestMemfd(size_t size, const char* name = "guest0") {
    fd_ = ::memfd_create(name, MFD_CLOEXEC);
    if (fd_ < 0 || ::ftruncate(fd_, static_cast<off_t>(size)) != 0) Die("memfd_create/ftruncate");
  }
  ~TestMemfd() { Close(); }
  TestMemfd(TestMemfd&& other) noexcept : fd_(other.Release()) {}
  TestMemfd& operator=(TestMemfd&& other) noexcept {
    if (this != &other) {
      Close();
      fd_ = other.Release();
    }
    return *this;
  }
  TestMemfd(const TestMemfd&) = delete;
  TestMemfd& operator=(const TestMemfd&) = delete;

  // Sets `length` bytes from `offset` (page-aligned) to `byte`, through a shared mapping.
  void Fill(size_t offset, size_t length, unsigned char byte) {
    void* p = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd_,
                     static_cast<off_t>(offset));
    if (p == MAP_FAILED) Die("mmap");
    std::memset(p, byte, length);
    ::munmap(p, length);
  }
  int fd() const { return fd_; }
  // The fd, now the caller's to close.
  int Release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }
  // Closes the fd now (a VMM closing its memory while khod holds it).
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  static void Die(const char* what) {
    std::fprintf(stderr, "TestMemfd: %s: %s\n", what, std::strerror(errno));
    std::abort();
  }
  int fd_ = -1;
};

}  // namespace khod

#endif  // KHOD_TESTS_SUPPORT_FIXTURE_H_
