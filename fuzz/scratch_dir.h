// A fuzz target's own directory for the files it hands the code under test
// (a state dir, a handover dir, a debugfs tree): made once per process in
// $TEST_TMPDIR (the replay test), else /dev/shm (a tmpfs: the fsyncs of
// khod's atomic writes cost nothing there), else $TMPDIR or /tmp, and
// removed with all it holds when the process exits normally. A run that
// crashes leaves it behind (/dev/shm/khod-fuzz-*).
#ifndef KHOD_FUZZ_SCRATCH_DIR_H_
#define KHOD_FUZZ_SCRATCH_DIR_H_

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>

namespace khod {

class ScratchDir {
 public:
  // The process's scratch directory, made at the first call.
  static const std::string& Path() {
    static const std::string* path = new std::string(Make());
    return *path;
  }

  // Path()/<name>, emptied (a file or a tree of that name removed first).
  static std::string Fresh(const std::string& name) {
    const std::string p = Path() + "/" + name;
    std::error_code ec;
    std::filesystem::remove_all(p, ec);
    return p;
  }

  // Writes `data` to `path` (created or truncated); aborts when it cannot:
  // the fuzzer's set-up failed, not the code under test.
  static void WriteFile(const std::string& path, std::string_view data) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(data.data(), static_cast<std::streamsize>(data.size()));
    if (!f.good()) Fail("write " + path);
  }

  static void MakeDirs(const std::string& path) {
    std::error_code ec;
    std::filesystem::create_directories(path, ec);
    if (ec) Fail("mkdir -p " + path + ": " + ec.message());
  }

  [[noreturn]] static void Fail(const std::string& what) {
    std::fprintf(stderr, "fuzz scratch dir: %s: %s\n", what.c_str(), std::strerror(errno));
    std::abort();
  }

 private:
  static std::string Base() {
    const char* test_tmpdir = std::getenv("TEST_TMPDIR");
    if (test_tmpdir != nullptr && *test_tmpdir == '/') return test_tmpdir;
    struct stat st;
    if (::stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && ::access("/dev/shm", W_OK) == 0)
      return "/dev/shm";
    const char* tmpdir = std::getenv("TMPDIR");
    return tmpdir != nullptr && *tmpdir == '/' ? tmpdir : "/tmp";
  }

  static std::string Make() {
    std::string t = Base() + "/khod-fuzz-XXXXXX";
    if (::mkdtemp(t.data()) == nullptr) Fail("mkdtemp " + t);
    static std::string* made = new std::string(t);
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(*made, ec);
    });
    return t;
  }
};

}  // namespace khod

#endif  // KHOD_FUZZ_SCRATCH_DIR_H_
