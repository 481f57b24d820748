// khoctl: the operator's CLI for khod. Dispatches to one cmd_*.cc per subcommand.
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>

#include "common/numbers.h"
#include "khoctl/client.h"
#include "khoctl/commands.h"
#include "khoctl/usage.h"

namespace khod {

// Declared here, defined in cmd_*.cc; add one line per new command.
// (keep alphabetical)
int RunAttach(const Args& args);
int RunCancel(const Args& args);
int RunCapture(const Args& args);
int RunConvert(const Args& args);
int RunDetach(const Args& args);
int RunFds(const Args& args);
int RunFinish(const Args& args);
int RunFreeze(const Args& args);
int RunInspect(const Args& args);
int RunPrepare(const Args& args);
int RunProbe(const Args& args);
int RunRestore(const Args& args);
int RunSnapshot(const Args& args);
int RunStatus(const Args& args);
int RunSynth(const Args& args);
int RunVerifyCommand(const Args& args);
int RunVerifyRestore(const Args& args);

const std::vector<Command>& AllCommands() {
  static const std::vector<Command> kCommands = {
      {"attach", kAttachUsage, "khod: attach a VMM's guest_memfd (or a MODEL guest) to the session",
       RunAttach},
      {"cancel", kCancelUsage,
       "khod: abandon the live update, back to IDLE (gmems stay attached where this khod attached "
       "them)",
       RunCancel},
      {"capture", kCaptureUsage, "capture a VMM's guest_memfds from the running kernel",
       RunCapture},
      {"convert", kConvertUsage, "re-encode a snapshot blob in the other format", RunConvert},
      {"detach", kDetachUsage, "khod: let go of one attached gmem", RunDetach},
      {"fds", kFdsUsage,
       "khod: the fd of khod holding each restored file, for the VMM's pidfd_getfd", RunFds},
      {"finish", kFinishUsage, "khod: close the session once the restore is verified", RunFinish},
      {"freeze", kFreezeUsage, "khod: final capture with guests paused, then hand over", RunFreeze},
      {"inspect", kInspectUsage, "show what a snapshot blob (FDT or protobuf) holds", RunInspect},
      {"prepare", kPrepareUsage, "khod: capture the attached gmems while guests run (-> PREPARED)",
       RunPrepare},
      {"probe", kProbeUsage,
       "what the running kernel supports (guest_memfd, HugeTLB, PFNs, KHO, LUO) and the KHO FDT it "
       "was handed",
       RunProbe},
      {"restore", kRestoreUsage, "khod: restore the handed-over gmems, then verify (exit 0/1/2/3)",
       RunRestore},
      {"snapshot", kSnapshotUsage, "khod: write the session's current snapshot blob", RunSnapshot},
      {"status", kStatusUsage, "khod: phase, durations, blob sizes, gmems, verdict", RunStatus},
      {"synth", kSynthUsage, "write a synthetic snapshot (demos, benchmarks)", RunSynth},
      {"verify", kVerifyLiveUsage,
       "compare a snapshot with the live state (exit 0 equal, 1 different, 3 not all verified)",
       RunVerifyCommand},
      {"verify", kVerifyKhodUsage,
       "khod: compare restored gmems with the frozen snapshot (exit 0/1/2/3)", RunVerifyCommand},
      {"verify-restore", kVerifyRestoreUsage, "khod: the same as verify [--socket PATH] (alias)",
       RunVerifyRestore},
  };
  return kCommands;
}

constexpr char kExitCodesHelp[] =
    "exit codes: 0 ok (verify: everything observed and equal), 1 differences found, 2 error,\n"
    "  3 (verify) no difference where observable, but parts the host cannot observe were not\n"
    "  verified: each is named with its guest_memfd and pages (e.g. private guest_memfd memory)";

static int Usage(FILE* f) {
  std::fprintf(f, "usage: khoctl COMMAND [ARGS]\n\ncommands:\n");
  for (const auto& c : AllCommands()) std::fprintf(f, "  %s\n      %s\n", c.usage, c.summary);
  std::fprintf(f, "\n%s\n", kExitCodesHelp);
  return f == stdout ? kExitOk : kExitError;
}

// "khoctl CMD --help" (or -h) before any "--": the command's usage, not a run.
static bool AsksForHelp(int argc, char** argv) {
  for (int i = 2; i < argc && std::strcmp(argv[i], "--") != 0; ++i)
    if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) return true;
  return false;
}

// Every usage line of `name` (verify has two forms) with its summary, on stdout.
static int CommandHelp(const char* name) {
  for (const auto& c : AllCommands())
    if (std::strcmp(name, c.name) == 0) std::printf("usage: khoctl %s\n  %s\n", c.usage, c.summary);
  std::printf("flags take '--name value' or '--name=value'\n%s\n", kExitCodesHelp);
  return kExitOk;
}

// stdout's output, checked: a verdict or a reply no one received must not
// exit as if it had been (`khoctl verify --json > /dev/full` exited 0 with
// nothing written). stdio keeps only an error flag once a write past its
// buffer failed, so stdout is a stream of ours over fd 1 whose writes keep
// the first error's errno for the end of main. (glibc's stdout is a
// variable one may set: its manual says so.)
namespace {

int g_stdout_errno = 0;

ssize_t WriteStdout(void*, const char* buf, size_t size) {
  size_t done = 0;
  while (done < size) {
    const ssize_t n = ::write(STDOUT_FILENO, buf + done, size - done);
    if (n > 0) {
      done += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      if (g_stdout_errno == 0) g_stdout_errno = n < 0 ? errno : EIO;
      break;  // fewer bytes than asked: stdio sets the stream's error flag
    }
  }
  return static_cast<ssize_t>(done);
}

void CheckStdoutWrites() {
  cookie_io_functions_t io{};
  io.write = WriteStdout;
  FILE* checked = ::fopencookie(nullptr, "w", io);
  if (checked == nullptr) return;  // the plain stdout: its error flag still tells
  // As stdio buffers fd 1 itself: by line on a terminal, else in blocks.
  std::setvbuf(checked, nullptr, ::isatty(STDOUT_FILENO) ? _IOLBF : _IOFBF, BUFSIZ);
  stdout = checked;
}

// The exit code once stdout is flushed: `code`, or kExitError when any of
// its output could not be written ("khoctl: cannot write the output: No
// space left on device"), whatever the verdict was.
int FinishStdout(int code) {
  errno = 0;
  const bool flush_failed = std::fflush(stdout) != 0;
  const int flush_errno = errno;
  if (!flush_failed && !std::ferror(stdout)) return code;
  const int err = g_stdout_errno ? g_stdout_errno : flush_errno ? flush_errno : EIO;
  std::fprintf(stderr, "khoctl: cannot write the output: %s\n", std::strerror(err));
  return kExitError;
}

// KHOCTL_CALL_TIMEOUT=SECONDS: how long a call to khod waits for its answer
// (khoctl/client.h; 120 s unset). False, said on stderr, when it is no number
// of seconds.
bool TakeCallTimeout() {
  const char* text = std::getenv("KHOCTL_CALL_TIMEOUT");
  if (text == nullptr) return true;
  Result<uint64_t> s = ParseU64Named(text, "KHOCTL_CALL_TIMEOUT", 1, 86400);
  if (!s.ok()) {
    std::fprintf(stderr, "khoctl: %s (seconds, 1 to 86400)\n", s.status().message().c_str());
    return false;
  }
  SetCallTimeout(std::chrono::seconds(*s));
  return true;
}

}  // namespace

// Whether a form of command `name` calls khod (its summary says "khod:").
bool CallsKhod(const char* name) {
  for (const auto& c : AllCommands())
    if (std::strcmp(name, c.name) == 0 && std::strncmp(c.summary, "khod:", 5) == 0) return true;
  return false;
}

int Dispatch(int argc, char** argv) {
  if (argc < 2) return Usage(stderr);
  // Read only for a command that calls khod: a bad value stops no offline one.
  if (CallsKhod(argv[1]) && !AsksForHelp(argc, argv) && !TakeCallTimeout()) return kExitError;
  if (!std::strcmp(argv[1], "help") || !std::strcmp(argv[1], "--help") ||
      !std::strcmp(argv[1], "-h"))
    return Usage(stdout);
  for (const auto& c : AllCommands()) {
    if (std::strcmp(argv[1], c.name) != 0) continue;
    if (AsksForHelp(argc, argv)) return CommandHelp(c.name);
    // Errors are Status values; an exception here is the C++ library's
    // (std::bad_alloc when memory runs out): an error (exit 2), never an abort.
    try {
      return c.run(Args(argv + 2, argv + argc));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "khoctl %s: %s\n", c.name,
                   dynamic_cast<const std::bad_alloc*>(&e) ? "out of memory" : e.what());
      return kExitError;
    }
  }
  std::fprintf(stderr, "khoctl: unknown command '%s' (try 'khoctl help')\n", argv[1]);
  return kExitError;
}

}  // namespace khod

int main(int argc, char** argv) {
  khod::CheckStdoutWrites();
  return khod::FinishStdout(khod::Dispatch(argc, argv));
}
