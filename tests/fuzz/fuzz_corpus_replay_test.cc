// Replays every input of the fuzz corpora (fuzz/corpus/<target>/) and the
// fuzzers' regression inputs (tests/fuzz/regressions/) through the fuzz
// targets' own entry points (//fuzz:*_fuzzer built with fuzz_replay_main.cc),
// one process per input, each with 1 s of CPU. A crash, an oracle abort, a
// sanitizer report (under --config=asan) or a timeout fails the test naming
// the input. The fuzzers themselves run outside CI (fuzz/README.md).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/fixture.h"

namespace khod {
namespace {

constexpr rlim_t kCpuLimitSeconds = 1;             // per input
constexpr std::chrono::seconds kWallBackstop{30};  // per input, for one that blocks

struct Corpus {
  const char* fuzzer;  // runfiles path of the replaying binary
  const char* dir;
  const char* suffix;  // only files ending so; "" for all
};

std::ostream& operator<<(std::ostream& os, const Corpus& c) {
  return os << c.fuzzer << " on " << c.dir << "/*" << c.suffix;
}

std::vector<std::string> Inputs(const Corpus& c) {
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(c.dir)) {
    const std::string path = entry.path().string();
    const std::string suffix = c.suffix;
    if (path.size() >= suffix.size() &&
        path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0)
      files.push_back(path);
  }
  return files;
}

std::string ReadLog(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  std::string s = ss.str();
  return s.size() > 4000 ? "..." + s.substr(s.size() - 4000) : s;
}

// "" when `fuzzer input` exited 0 within the limits, else what went wrong. The
// limit is CPU time (RLIMIT_CPU): the machine's load does not stretch it, and
// a loop spends it. The wall-clock backstop catches a child that blocks.
std::string Replay(const std::string& fuzzer, const std::string& input, const std::string& log) {
  const pid_t pid = fork();
  if (pid < 0) return std::string("fork: ") + std::strerror(errno);
  if (pid == 0) {  // only async-signal-safe calls until exec
    const rlimit cpu = {kCpuLimitSeconds, kCpuLimitSeconds};
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (setrlimit(RLIMIT_CPU, &cpu) != 0 || fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
      _exit(127);
    execl(fuzzer.c_str(), fuzzer.c_str(), input.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + kWallBackstop;
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return "no result within " + std::to_string(kWallBackstop.count()) + " s (killed)";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (WIFSIGNALED(status) && (WTERMSIG(status) == SIGXCPU || WTERMSIG(status) == SIGKILL))
    return "more than " + std::to_string(kCpuLimitSeconds) + " s of CPU (killed by signal " +
           std::to_string(WTERMSIG(status)) + ")";
  if (WIFSIGNALED(status))
    return "killed by signal " + std::to_string(WTERMSIG(status)) + ":\n" + ReadLog(log);
  if (WEXITSTATUS(status) != 0)
    return "exit status " + std::to_string(WEXITSTATUS(status)) + ":\n" + ReadLog(log);
  return "";
}

class FuzzCorpusReplay : public ::testing::TestWithParam<Corpus> {};

TEST_P(FuzzCorpusReplay, EveryInputEndsCleanlyWithinTheLimit) {
  const Corpus& c = GetParam();
  const std::vector<std::string> inputs = Inputs(c);
  ASSERT_FALSE(inputs.empty()) << "no inputs in " << c.dir;
  const TempDir tmp("fuzz-replay");
  const std::string log = tmp.Join("fuzz_replay.log");
  for (const std::string& input : inputs) {
    const std::string problem = Replay(c.fuzzer, input, log);
    EXPECT_EQ(problem, "") << input;
  }
}

// The session record's corpora need //daemon, which scripts/test.sh's ASan pass
// leaves out: a test target of their own (tests/fuzz/BUILD) replays them.
#ifdef KHOD_REPLAY_SESSION_RECORD
INSTANTIATE_TEST_SUITE_P(
    Corpora, FuzzCorpusReplay,
    ::testing::Values(Corpus{"fuzz/session_record_fuzzer", "fuzz/corpus/session_record", ""},
                      Corpus{"fuzz/session_record_fuzzer", "tests/fuzz/regressions", ".rec"}));
#else
INSTANTIATE_TEST_SUITE_P(
    Corpora, FuzzCorpusReplay,
    ::testing::Values(Corpus{"fuzz/fdt_decode_fuzzer", "fuzz/corpus/fdt", ""},
                      Corpus{"fuzz/fdt_decode_fuzzer", "tests/fuzz/regressions", ".fdt"},
                      Corpus{"fuzz/proto_decode_fuzzer", "fuzz/corpus/proto", ""},
                      Corpus{"fuzz/proto_decode_fuzzer", "tests/fuzz/regressions", ".khodsnap"},
                      Corpus{"fuzz/vmm_declaration_fuzzer", "fuzz/corpus/declaration", ""},
                      Corpus{"fuzz/handover_receive_fuzzer", "fuzz/corpus/handover", ""},
                      Corpus{"fuzz/handover_receive_fuzzer", "tests/fuzz/regressions", ".luo"},
                      Corpus{"fuzz/kho_incoming_fuzzer", "fuzz/corpus/kho", ""},
                      Corpus{"fuzz/proc_text_fuzzer", "fuzz/corpus/proc_text", ""},
                      Corpus{"fuzz/reexec_adopt_fuzzer", "fuzz/corpus/reexec_adopt", ""},
                      Corpus{"fuzz/vma_policy_fuzzer", "fuzz/corpus/vma_policy", ""},
                      Corpus{"fuzz/shared_policy_fuzzer", "fuzz/corpus/shared_policy", ""}));
#endif

}  // namespace
}  // namespace khod
