// khod: the live-update daemon. Serves proto/khod.proto and the standard gRPC
// health service on a unix socket; keeps its session in --state-dir.
//
//   khod [--socket /run/khod/khod.sock] [--state-dir /var/lib/khod]  (--help: all flags)
//        [--allow-gid=GID [--group-socket=PATH]] [--transport=reexec|dir|luo] [--format=fdt|proto]
//        [--luo-device=/dev/liveupdate] [--debugfs=/sys/kernel/debug]
//        [--reexec-binary=PATH]   (the program a reexec runs; default khod's own)
//   test faults: [--crash-at=POINT]
//                [--fault=corrupt-handover-blob|sigterm-before-exec|sigterm-during-freeze]
//   set by a reexec handover, not by hand: [--adopt=SPEC] [--listen-fd=N]
//     [--group-listen-fd=N] [--lock-fd=N]
//     [--mapping-holder=PID] [--reap=PID,...] [--reexec-timing=READY_NS,EXEC_NS]
//     [--bpf-programs=NAME:FD,...]
#include <fcntl.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/flags.h"
#include "daemon/inflight_calls.h"
#include "daemon/instance_lock.h"
#include "daemon/khod_service.h"
#include "daemon/metrics_textfile.h"
#include "daemon/peer_auth.h"
#include "daemon/reexec_timeline.h"
#include "daemon/session.h"
#include "daemon/stop_signal_waiter.h"
#include "daemon/system_opener.h"
#include "daemon/systemd_activation.h"
#include "daemon/unix_listener.h"
#include "handover/reexec_transport.h"
#include "kernel/bpf_program.h"
#include "kernel/child_reaper.h"
#include "kernel/fd_table.h"
#include "kernel/mapping_holder.h"

namespace khod {
namespace {

struct Flags {
  std::string socket = "/run/khod/khod.sock";  // root's
  std::string group_socket;                    // --allow-gid's; empty: <socket>.group
  std::string state_dir = "/var/lib/khod";
  std::string handover_root;  // empty: <state_dir>/handover
  long allow_gid = -1;
  v1::Transport transport = v1::REEXEC;
  v1::BlobFormat format = v1::FDT;
  std::string crash_at;
  bool corrupt_blob = false;
  bool sigterm_before_exec = false;
  bool sigterm_during_freeze = false;
  std::string adopt;
  int listen_fd = -1;
  int group_listen_fd = -1;  // the previous khod's group socket (reexec)
  int lock_fd = -1;          // the state dir's lock, held by the previous khod (reexec)
  int mapping_holder = -1;   // the previous khod's (reexec)
  std::vector<pid_t> reap;   // children the previous khod let go of, not yet reaped (reexec)
  int pte_keeper = -1, pte_keeper_fd = -1, pte_witness_fd = -1;  // the previous khod's (reexec)
  std::optional<ReexecMarks> reexec_marks;  // the previous khod's stamps (reexec)
  std::string luo_device = "/dev/liveupdate";
  std::string debugfs = kDefaultDebugfsRoot;  // where KHO's incoming tree is read
  // The program a reexec handover runs, fixed here by whoever starts khod
  // (root): no request names one. Empty: khod's own binary (/proc/self/exe).
  std::string reexec_binary;
  std::vector<std::string> passthrough;  // re-given to the next khod on reexec
  bool help = false;
  std::string metrics_textfile;  // empty: none
  int capture_threads = 0;       // 0: the CPUs of khod's affinity mask
  bool pin_movable_memory = false;
  std::map<uint64_t, std::vector<int>> page_pins;  // the previous khod's (reexec)
  std::map<std::string, int> bpf_programs;         // the previous khod's, by name (reexec)
};

int Die(const std::string& msg) {
  std::fprintf(stderr, "khod: %s\n", msg.c_str());
  return 2;
}

// The service manager missing a notice is logged, never fatal: khod serves on.
void Notify(const std::string& state) {
  Status s = NotifyServiceManager(state);
  if (!s.ok()) std::fprintf(stderr, "khod: %s\n", s.ToString().c_str());
}

// Flags without help text are set by a reexec handover, not by hand.
const std::vector<FlagSpec>& KhodFlagSpecs() {
  static const std::vector<FlagSpec> kSpecs = {
      {"--help", false, "-h", "  print this help and exit"},
      {"--socket", true, nullptr,
       "PATH  root's unix socket, mode 0600 (default /run/khod/khod.sock); without --allow-gid "
       "the only one"},
      {"--state-dir", true, nullptr, "DIR  session record and blobs (default /var/lib/khod)"},
      {"--handover-root", true, nullptr,
       "DIR  where a dir handover's directories are (default <state-dir>/handover)"},
      {"--allow-gid", true, nullptr,
       "GROUP  a group (name or number) whose members may call khod, besides root, on "
       "--group-socket"},
      {"--group-socket", true, nullptr,
       "PATH  with --allow-gid: the group's unix socket, mode 0660 with that group (default "
       "<--socket>.group); root's socket stays root's"},
      {"--transport", true, nullptr, "reexec|dir|luo  default handover transport"},
      {"--format", true, nullptr, "fdt|proto  default blob format"},
      {"--luo-device", true, nullptr, "PATH  LUO device (default /dev/liveupdate)"},
      {"--debugfs", true, nullptr, "DIR  where KHO's incoming tree is read"},
      {"--reexec-binary", true, nullptr, "PATH  the program a reexec runs (default khod's own)"},
      {"--metrics-textfile", true, nullptr,
       "PATH  Prometheus metrics, rewritten at every phase change (node_exporter textfile)"},
      {"--capture-threads", true, nullptr,
       "N  threads a capture may use, 1-1024 (default: the CPUs khod's affinity mask allows)"},
      {"--pin-movable-memory", false, nullptr,
       "  pin shmem guests' pages from Prepare to the handover, so that Freeze reads only what "
       "changed (docs/DESIGN.md)"},
      {"--crash-at", true, nullptr,
       "POINT  test fault: die at a crash point (after-reexec:POINT: in the khod a reexec "
       "starts)"},
      {"--fault", true, nullptr,
       "corrupt-handover-blob|sigterm-before-exec|sigterm-during-freeze  test fault "
       "(sigterm-before-exec: khod sends itself SIGTERM once a reexec is decided, and waits for "
       "it to be taken; sigterm-during-freeze: while Freeze runs, before its record)"},
      {"--adopt", true},  // set by a reexec handover, not by hand
      {"--listen-fd", true},
      {"--group-listen-fd", true},
      {"--lock-fd", true},
      {"--mapping-holder", true},
      {"--pte-keeper", true},
      {"--page-pins", true},
      {"--bpf-programs", true},
      {"--reap", true},
      {"--reexec-timing", true},
  };
  return kSpecs;
}

constexpr char kUsage[] =
    "usage: khod [--socket PATH] [--state-dir DIR] [--allow-gid GID [--group-socket PATH]] "
    "[FLAGS]\n"
    "Serves proto/khod.proto and the gRPC health service on a unix socket.\n"
    "Flags take '--name value' or '--name=value'.\n\n";

bool ParseKhodFlags(int argc, char** argv, Flags* f, std::string* err) {
  Result<ParsedFlags> parsed = ParseFlags(ArgsAfterProgram(argc, argv), KhodFlagSpecs());
  if (!parsed.ok()) {
    *err = parsed.status().message() + " (try khod --help)";
    return false;
  }
  const ParsedFlags& p = *parsed;
  if (!p.positionals().empty()) {
    *err = "unexpected argument '" + p.positionals()[0] + "' (try khod --help)";
    return false;
  }
  f->help = p.Has("--help");
  f->socket = p.Get("--socket", f->socket);
  f->state_dir = p.Get("--state-dir", f->state_dir);
  f->handover_root = p.Get("--handover-root");
  if (p.Has("--allow-gid")) {
    Result<gid_t> gid = ParseAllowGid(p.Get("--allow-gid"));
    if (!gid.ok()) {
      *err = gid.status().message();
      return false;
    }
    f->allow_gid = static_cast<long>(*gid);
  }
  if (p.Has("--group-socket")) {
    if (f->allow_gid < 0) {
      *err = "--group-socket needs --allow-gid (without it khod serves root alone, on --socket)";
      return false;
    }
    f->group_socket = p.Get("--group-socket");
    if (f->group_socket.empty()) {
      *err = "--group-socket needs a path";
      return false;
    }
  }
  if (f->allow_gid >= 0 && f->group_socket.empty()) f->group_socket = f->socket + ".group";
  if (f->allow_gid >= 0 && f->group_socket == f->socket) {
    *err = "--group-socket must differ from --socket (root's socket is root's alone)";
    return false;
  }
  if (p.Has("--transport")) {
    const std::string val = p.Get("--transport");
    if (val == "reexec")
      f->transport = v1::REEXEC;
    else if (val == "dir")
      f->transport = v1::DIR;
    else if (val == "luo")
      f->transport = v1::LUO;
    else {
      *err = "--transport must be reexec, dir or luo";
      return false;
    }
  }
  if (p.Has("--format")) {
    const std::string val = p.Get("--format");
    if (val == "fdt")
      f->format = v1::FDT;
    else if (val == "proto")
      f->format = v1::PROTO;
    else {
      *err = "--format must be fdt or proto";
      return false;
    }
  }
  f->crash_at = p.Get("--crash-at");
  if (p.Has("--fault")) {
    const std::string fault = p.Get("--fault");
    if (fault == "corrupt-handover-blob") {
      f->corrupt_blob = true;
    } else if (fault == "sigterm-before-exec") {
      f->sigterm_before_exec = true;
    } else if (fault == "sigterm-during-freeze") {
      f->sigterm_during_freeze = true;
    } else {
      *err = "unknown --fault " + fault;
      return false;
    }
  }
  f->luo_device = p.Get("--luo-device", f->luo_device);
  f->debugfs = p.Get("--debugfs", f->debugfs);
  if (p.Has("--reexec-binary")) {
    if (p.Get("--reexec-binary").empty()) {
      *err = "--reexec-binary needs a path";
      return false;
    }
    f->reexec_binary = p.Get("--reexec-binary");
  }
  f->metrics_textfile = p.Get("--metrics-textfile");
  if (p.Has("--capture-threads")) {
    Result<uint64_t> n = p.GetUint("--capture-threads", 0);
    if (!n.ok()) {
      *err = n.status().message();
      return false;
    }
    if (*n < 1 || *n > 1024) {
      *err = "--capture-threads must be 1-1024";
      return false;
    }
    f->capture_threads = static_cast<int>(*n);
  }
  f->pin_movable_memory = p.Has("--pin-movable-memory");
  f->adopt = p.Get("--adopt");
  if (p.Has("--page-pins")) {
    Result<std::map<uint64_t, std::vector<int>>> pins = ParsePagePinsSpec(p.Get("--page-pins"));
    if (!pins.ok()) {
      *err = pins.status().message();
      return false;
    }
    f->page_pins = std::move(*pins);
  }
  if (p.Has("--bpf-programs")) {
    Result<std::map<std::string, int>> programs = ParseBpfProgramsSpec(p.Get("--bpf-programs"));
    if (!programs.ok()) {
      *err = programs.status().message();
      return false;
    }
    f->bpf_programs = std::move(*programs);
  }
  if (p.Has("--listen-fd")) {
    Result<int> fd = ParseFdNumber("--listen-fd", p.Get("--listen-fd"));
    if (!fd.ok()) {
      *err = fd.status().message();
      return false;
    }
    f->listen_fd = *fd;
  }
  if (p.Has("--group-listen-fd")) {
    Result<int> fd = ParseFdNumber("--group-listen-fd", p.Get("--group-listen-fd"));
    if (!fd.ok()) {
      *err = fd.status().message();
      return false;
    }
    f->group_listen_fd = *fd;
  }
  if (p.Has("--lock-fd")) {
    Result<int> fd = ParseFdNumber("--lock-fd", p.Get("--lock-fd"));
    if (!fd.ok()) {
      *err = fd.status().message();
      return false;
    }
    f->lock_fd = *fd;
  }
  if (p.Has("--mapping-holder")) {
    Result<int> pid = ParseFdNumber("--mapping-holder", p.Get("--mapping-holder"));  // same rule
    if (!pid.ok()) {
      *err = pid.status().message();
      return false;
    }
    f->mapping_holder = *pid;
  }
  if (p.Has("--reap")) {
    Result<std::vector<pid_t>> pids = ParseReapArgument(p.Get("--reap"));
    if (!pids.ok()) {
      *err = pids.status().message();
      return false;
    }
    f->reap = *pids;
  }
  if (p.Has("--pte-keeper")) {
    // PID:FD[:W], the previous khod's keeper, its control socket and the
    // memfd describing its witness; each by the fd number rule.
    const std::string v = p.Get("--pte-keeper");
    std::vector<int> n;
    for (size_t at = 0; at <= v.size() && n.size() < 4;) {
      const size_t colon = std::min(v.find(':', at), v.size());
      Result<int> x = ParseFdNumber("--pte-keeper", v.substr(at, colon - at));
      if (!x.ok()) {
        *err = x.status().message();
        return false;
      }
      n.push_back(*x);
      at = colon + 1;
    }
    if (n.size() < 2 || n.size() > 3) {
      *err = "--pte-keeper wants PID:FD or PID:FD:W, not '" + v + "'";
      return false;
    }
    f->pte_keeper = n[0];
    f->pte_keeper_fd = n[1];
    f->pte_witness_fd = n.size() == 3 ? n[2] : -1;
  }
  if (p.Has("--reexec-timing")) {
    Result<ReexecMarks> m = ParseReexecTiming(p.Get("--reexec-timing"));
    if (!m.ok()) {
      *err = m.status().message();
      return false;
    }
    f->reexec_marks = *m;
  }
  // Re-given to the next khod on a reexec: every operator flag but the
  // one-shot faults; the reexec sets the flags it owns itself.
  for (const FlagSpec& spec : KhodFlagSpecs()) {
    const std::string name = spec.name;
    const bool set_by_reexec = !spec.help;
    if (set_by_reexec || name == "--help" || !p.Has(name) || IsOneShotFaultFlag(name)) continue;
    f->passthrough.push_back(spec.takes_value ? name + "=" + p.Get(name) : name);
  }
  return true;
}

// khod holds an fd or two for each guest file it is given (the VMM's, taken
// at Attach or adopted across a reexec), and a host runs hundreds of them:
// its soft RLIMIT_NOFILE (1024 under systemd unless the unit says more) is
// raised to the hard limit. Safe: khod waits with epoll and poll, never select.
void RaiseOpenFileLimit() {
  rlimit l;
  if (::getrlimit(RLIMIT_NOFILE, &l) != 0 || l.rlim_cur >= l.rlim_max) return;
  l.rlim_cur = l.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &l) != 0)
    std::fprintf(stderr, "khod: cannot raise the open-file limit to %llu: %s\n",
                 static_cast<unsigned long long>(l.rlim_max), std::strerror(errno));
}

// What the main thread waits for: a signal, or a reexec handover.
struct Wakeup {
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  int stop_signal = 0;  // the signal that set `stop`
  std::optional<std::vector<std::string>> exec_argv;
  int64_t ready_ns = 0;  // when the handover became durable
};

}  // namespace
}  // namespace khod

int main(int argc, char** argv) {
  using namespace khod;
  const int64_t main_ns = MonotonicNs();
  Flags flags;
  std::string err;
  if (!ParseKhodFlags(argc, argv, &flags, &err)) return Die(err);
  if (flags.help) {
    std::printf("%s%s", kUsage, FlagsHelp(KhodFlagSpecs()).c_str());
    return 0;
  }

  // Signals go to one waiting thread, not to whichever thread gRPC is running.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  RaiseOpenFileLimit();

  AdoptSpec adopted;
  if (!flags.adopt.empty()) {
    Result<AdoptSpec> a = ParseAdoptSpec(flags.adopt);
    if (!a.ok()) return Die(a.status().ToString());
    adopted = *a;
  }
  // The fds a reexec hands on are each one flag's (--listen-fd,
  // --group-listen-fd, --lock-fd, --adopt, --pte-keeper, --page-pins,
  // --bpf-programs): one that two flags name would be
  // taken as two things and closed twice (the listening socket closed as a
  // gmem). A command line that does so was not written by a khod: refused
  // before anything is opened. (Repeats inside --adopt and --page-pins are
  // their parsers' to refuse; --pte-keeper's C and W may be one bad fd, which
  // the keeper's adoption refuses by name and leaves alone.)
  {
    std::vector<std::pair<const char*, int>> named;
    if (flags.listen_fd >= 0) named.emplace_back("--listen-fd", flags.listen_fd);
    if (flags.group_listen_fd >= 0) named.emplace_back("--group-listen-fd", flags.group_listen_fd);
    if (flags.lock_fd >= 0) named.emplace_back("--lock-fd", flags.lock_fd);
    if (adopted.blob_fd >= 0) named.emplace_back("--adopt", adopted.blob_fd);
    for (const auto& [token, fd] : adopted.fds) named.emplace_back("--adopt", fd);
    if (flags.pte_keeper > 0) {
      named.emplace_back("--pte-keeper", flags.pte_keeper_fd);
      if (flags.pte_witness_fd >= 0 && flags.pte_witness_fd != flags.pte_keeper_fd)
        named.emplace_back("--pte-keeper", flags.pte_witness_fd);
    }
    for (const auto& [token, fds] : flags.page_pins)
      for (int fd : fds) named.emplace_back("--page-pins", fd);
    for (const auto& [name, fd] : flags.bpf_programs) named.emplace_back("--bpf-programs", fd);
    std::map<int, const char*> flag_of;  // fd -> the first flag naming it
    for (const auto& [flag, fd] : named) {
      const auto [it, first] = flag_of.emplace(fd, flag);
      if (!first && std::strcmp(it->second, flag) != 0)
        return Die(std::string(it->second) + " and " + flag + " both name fd " +
                   std::to_string(fd) + ": each fd a reexec hands on is one flag's");
    }
    if (!adopted.empty()) {
      // A new khod opens about as many descriptors again for the files it
      // adopts (warm-ups, Restore, Verify) while the guests are paused: its
      // table grows here, while this is its only thread (no RCU grace period
      // to wait for: kernel/fd_table.h). Room is made above the highest fd
      // the flags name, without listing /proc/self/fd, whose first read after
      // an exec makes an entry for each of hundreds of descriptors: the other
      // ones it has are the few it was started with (the rest close on exec).
      const int highest = flag_of.empty() ? 2 : std::max(2, flag_of.rbegin()->first);
      Status fds = ReserveFdTableAbove(highest, 2 * static_cast<int>(adopted.fds.size()) + 64);
      if (!fds.ok()) std::fprintf(stderr, "khod: %s\n", fds.ToString().c_str());
    }
  }
  int pin_clash = -1;
  for (const auto& [token, fds] : flags.page_pins)
    for (int fd : fds)
      if (pin_clash < 0 && fd <= 2) pin_clash = fd;
  if (pin_clash >= 0) {
    std::fprintf(stderr,
                 "khod: --page-pins names fd %d (stdin, stdout or stderr): ignored, its other "
                 "fds close on exec\n",
                 pin_clash);
    // Not closed: a number that was no ring at the exec may be another file
    // of this process by now; never inherited by a child or a later exec.
    for (const auto& [token, fds] : flags.page_pins)
      for (int fd : fds)
        if (fd > 2) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    flags.page_pins.clear();
  }
  // The BPF programs the previous khod loaded, taken before anything reads
  // with them (the session opens below, and its warm-ups read policies): the
  // process-wide readers use them instead of loading their own
  // (kernel/bpf_program.h), once a read of this process proves each. An fd
  // that is not the program it is named as is refused by name and left
  // alone, close-on-exec (a number that was no program at the exec may be
  // another file of this process); that program loads anew.
  for (const auto& [name, fd] : flags.bpf_programs) {
    const bool known = name == "khod_vma_policy" || name == "khod_shared_policy";
    Result<BpfProgram> program =
        !known    ? Result<BpfProgram>(Status::InvalidArgument("no such program in this khod"))
        : fd <= 2 ? Result<BpfProgram>(Status::InvalidArgument("stdin, stdout or stderr"))
                  : BpfProgram::Adopt(fd, name.c_str());
    if (!program.ok()) {
      std::fprintf(stderr, "khod: --bpf-programs names fd %d as %s: ignored (%s)\n", fd,
                   name.c_str(), program.status().message().c_str());
      if (fd > 2) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
      continue;
    }
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    OfferAdoptedBpfProgram(std::move(*program));
  }
  // One khod per state dir, before the socket is touched: a second khod
  // stops here, and the first keeps its socket and its session.
  Result<InstanceLock> lock = flags.lock_fd >= 0
                                  ? InstanceLock::Adopt(flags.lock_fd, flags.state_dir)
                                  : InstanceLock::Acquire(flags.state_dir);
  if (!lock.ok()) return Die(lock.status().ToString());
  // systemd's sockets (khod.socket and, with --allow-gid, khod-group.socket;
  // systemd-socket-activate), unless a reexec handed this khod its
  // predecessor's: then LISTEN_* are gone already.
  Result<ActivatedSockets> activated = TakeActivatedSockets();
  if (!activated.ok()) return Die(activated.status().ToString());
  if (activated->group >= 0 && flags.allow_gid < 0)
    return Die(
        "socket activation passed the group's socket (FileDescriptorName=group, "
        "khod-group.socket), but khod has no --allow-gid: give it --allow-gid GROUP, or "
        "disable khod-group.socket");
  // Root's socket: 0600, root's calls alone, whether or not a group may call
  // khod. The group's (with --allow-gid): a socket and a backlog of its own,
  // so that the group filling it cannot keep root out (docs/SECURITY.md).
  std::string root_socket_name = flags.socket, group_socket_name = flags.group_socket;
  if (flags.listen_fd < 0 && activated->root >= 0) {
    flags.listen_fd = activated->root;
    root_socket_name = "fd " + std::to_string(activated->root) + " from socket activation";
  }
  if (flags.group_listen_fd < 0 && activated->group >= 0) {
    flags.group_listen_fd = activated->group;
    group_socket_name = "fd " + std::to_string(activated->group) + " from socket activation";
  }
  Result<int> lfd = UnixListener::Bind(flags.socket, -1, flags.listen_fd);
  if (!lfd.ok()) return Die(lfd.status().ToString());
  if (flags.listen_fd >= 0) {
    const std::string warning = UnixListener::WarnUnlessRootOnly(*lfd);
    if (!warning.empty()) std::fprintf(stderr, "khod: warning: %s\n", warning.c_str());
  }
  int group_lfd = -1;
  if (flags.allow_gid >= 0) {
    // Without a group socket handed on (systemd passed root's alone, or a
    // khod from before the group had a socket of its own re-executed this
    // one), khod binds it, as it does when it binds root's.
    if (flags.group_listen_fd < 0 && flags.listen_fd >= 0)
      std::fprintf(stderr, "khod: no group socket was handed on with root's: binding %s\n",
                   flags.group_socket.c_str());
    Result<int> g = UnixListener::Bind(flags.group_socket, flags.allow_gid, flags.group_listen_fd);
    if (!g.ok()) return Die(g.status().ToString());
    group_lfd = *g;
  } else if (flags.group_listen_fd >= 0) {
    // A khod given --allow-gid passes it on to the khod it re-executes: this
    // command line was not written by one. Not served, and never inherited.
    std::fprintf(stderr, "khod: --group-listen-fd=%d without --allow-gid: not served\n",
                 flags.group_listen_fd);
    ::fcntl(flags.group_listen_fd, F_SETFD, FD_CLOEXEC);
  }

  // Children the previous khod let go of (kernel/child_reaper.h), but the
  // holder and keeper it hands on; ReapHandedOn returns a line for the log.
  if (!flags.reap.empty())
    std::fprintf(stderr, "khod: %s\n",
                 ReapHandedOn(flags.reap, {flags.mapping_holder, flags.pte_keeper}).c_str());

  Wakeup wake;
  SessionOptions so;
  so.state_dir = flags.state_dir;
  so.handover_root = flags.handover_root;
  so.default_transport = flags.transport;
  so.default_format = flags.format;
  so.exec_args = flags.passthrough;
  so.exec_args.push_back("--listen-fd=" + std::to_string(*lfd));
  if (group_lfd >= 0) so.exec_args.push_back("--group-listen-fd=" + std::to_string(group_lfd));
  so.exec_args.push_back("--lock-fd=" + std::to_string(lock->fd()));
  const CrashPoints crash(flags.crash_at);
  so.crash = crash;
  // A point in the khod the reexec starts: given to it alone.
  if (!crash.after_reexec().empty()) so.exec_args.push_back("--crash-at=" + crash.after_reexec());
  so.corrupt_handover_blob = flags.corrupt_blob;
  if (flags.sigterm_during_freeze)
    so.in_freeze_for_test = [] {
      // The stop reaches the main thread while this Freeze still runs.
      std::fprintf(stderr, "khod: --fault=sigterm-during-freeze: sending SIGTERM to pid %d\n",
                   ::getpid());
      ::kill(::getpid(), SIGTERM);
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
    };
  so.adopted = adopted;
  so.mapping_holder = flags.mapping_holder;
  so.pte_keeper = flags.pte_keeper;
  so.pte_keeper_fd = flags.pte_keeper_fd;
  so.pte_witness_fd = flags.pte_witness_fd;
  so.page_pins = flags.page_pins;
  so.capture_threads = flags.capture_threads;
  so.luo_device_path = flags.luo_device;
  so.debugfs_root = flags.debugfs;
  so.on_exec_ready = [&wake](std::vector<std::string> argv) {
    std::lock_guard<std::mutex> l(wake.mu);
    wake.exec_argv = std::move(argv);
    wake.ready_ns = MonotonicNs();
    wake.cv.notify_all();
  };
  // Set once the session is open; the record writer only signals it.
  std::unique_ptr<MetricsTextfile> metrics;
  std::atomic<MetricsTextfile*> metrics_ptr{nullptr};
  so.on_status_published = [&metrics_ptr] {
    if (MetricsTextfile* m = metrics_ptr.load()) m->Changed();
  };
  // Opened now and exec'd through this fd: what a reexec runs is fixed at
  // start-up, whatever later happens to the path (docs/SECURITY.md).
  const std::string program = flags.reexec_binary.empty() ? "/proc/self/exe" : flags.reexec_binary;
  const int program_fd = ::open(program.c_str(), O_RDONLY | O_CLOEXEC);
  if (program_fd < 0)
    return Die("cannot open the reexec program " + program + ": " + std::strerror(errno));
  if (flags.reexec_binary.empty()) {
    char self[4096];
    ssize_t n = ::readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0) so.self_binary.assign(self, static_cast<size_t>(n));
  } else {
    so.self_binary = flags.reexec_binary;
  }

  // Before any thread that a Die() would leave joinable.
  StopSignalWaiter stop_signals(sigs, [&wake](int signo) {
    std::lock_guard<std::mutex> l(wake.mu);
    if (!wake.stop) wake.stop_signal = signo;
    wake.stop = true;
    wake.cv.notify_all();
  });
  if (Status st = stop_signals.Open(); !st.ok()) return Die(st.ToString());
  stop_signals.Start();
  SystemOpener opener(flags.capture_threads, flags.pin_movable_memory);
  // The session opens (record read, recovery written and fsync'd, adopted
  // fds opened) while this thread builds the gRPC server: neither needs the
  // other, and no call reaches the service before the listener starts below.
  Result<std::unique_ptr<Session>> session = Status::Internal("session not opened");
  int64_t opened_ns = 0;
  std::thread opening([&] {
    session = Session::Open(so, &opener);
    opened_ns = MonotonicNs();
  });

  PeerAuth auth(flags.allow_gid);
  KhodService service(&auth);
  grpc::EnableDefaultHealthCheckService(true);
  // Generic gRPC clients (grpcurl, grpc_cli) list and call khod's API.
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  InflightCalls calls;
  // Bounds on what callers make khod hold, whoever they are: the sync server
  // gives each call a thread, and gRPC sets none of these by default. A user
  // other than root holds at most kMaxConnectionsPerUser connections
  // (daemon/peer_auth.h), each at most kStreamsPerConnection calls at once,
  // each call's request at most gRPC's 4 MiB: 32 x 4 calls of one user hold
  // at most 512 MiB and 128 threads; all callers together at most
  // kServerThreads threads, past which a call is RESOURCE_EXHAUSTED. A
  // connection with no call for kIdleConnectionMs is closed (a client
  // reconnects on its next call).
  constexpr int kStreamsPerConnection = 4;
  constexpr int kServerThreads = 256;
  constexpr int kIdleConnectionMs = 10 * 60 * 1000;
  grpc::ResourceQuota quota("khod");
  quota.SetMaxThreads(kServerThreads);
  auto build_server = [&] {
    grpc::ServerBuilder builder;
    builder.SetResourceQuota(quota);
    builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, kStreamsPerConnection);
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS, kIdleConnectionMs);
    builder.RegisterService(&service);
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> counting;
    counting.push_back(calls.Factory());
    builder.experimental().SetInterceptorCreators(std::move(counting));
    return builder.BuildAndStart();
  };
  std::unique_ptr<grpc::Server> server = build_server();
  opening.join();
  if (!session.ok()) return Die("cannot open session: " + session.status().ToString());
  service.SetSession(session->get());
  if (!flags.metrics_textfile.empty()) {
    Session* s = session->get();
    metrics =
        std::make_unique<MetricsTextfile>(flags.metrics_textfile, [s] { return s->GetStatus(); });
    metrics_ptr = metrics.get();
    service.OnVerified([m = metrics.get()](const v1::VerifyReply& r) { m->Verified(r); });
  }
  for (;;) {
    if (!server) server = build_server();  // again after a failed exec
    if (!server) return Die("gRPC server failed to start");
    server->GetHealthCheckService()->SetServingStatus(true);
    // Before the socket accepts: a client reconnecting at once reads it in Status.
    if (flags.reexec_marks) {
      Result<v1::ReexecTimeline> t =
          MakeReexecTimeline(*flags.reexec_marks, main_ns, opened_ns, MonotonicNs());
      if (t.ok()) (*session)->SetReexecTimeline(*t);
      std::fprintf(stderr, "khod: reexec timeline: %s\n",
                   t.ok() ? ReexecTimelineText(*t).c_str() : t.status().message().c_str());
      flags.reexec_marks.reset();  // once: a failed exec's loop is no reexec
    }
    // Under --allow-gid, root's listener registers its connections root_only.
    UnixListener listener(*lfd, &auth, /*root_only=*/group_lfd >= 0);
    listener.Start(server.get());
    std::optional<UnixListener> group_listener;
    if (group_lfd >= 0) {
      group_listener.emplace(group_lfd, &auth);
      group_listener->Start(server.get());
    }
    if (metrics) metrics->Start();
    const std::string serving = group_lfd >= 0
                                    ? root_socket_name + " (root's) and " + group_socket_name +
                                          " (gid " + std::to_string(flags.allow_gid) + "'s)"
                                    : root_socket_name;
    std::fprintf(stderr, "khod: pid %d serving %s (state %s): %s\n", ::getpid(), serving.c_str(),
                 flags.state_dir.c_str(), (*session)->recovery().c_str());
    Notify("READY=1\nSTATUS=serving, phase " + v1::Phase_Name((*session)->phase()));

    std::vector<std::string> exec_argv;
    ReexecMarks marks;
    {
      std::unique_lock<std::mutex> l(wake.mu);
      wake.cv.wait(l, [&] { return wake.stop || wake.exec_argv.has_value(); });
      if (wake.exec_argv) exec_argv = std::move(*wake.exec_argv);
      wake.exec_argv.reset();
      marks.ready_ns = wake.ready_ns;
    }
    if (!exec_argv.empty() && flags.sigterm_before_exec) {
      // Test fault: an operator's stop that comes once this khod has decided
      // to exec (the main thread has left its wait), taken by the stop-signal
      // waiter before the exec: what the exec must not lose.
      std::fprintf(stderr, "khod: --fault=sigterm-before-exec: sending SIGTERM to pid %d\n",
                   ::getpid());
      ::kill(::getpid(), SIGTERM);
      std::unique_lock<std::mutex> l(wake.mu);
      wake.cv.wait_for(l, std::chrono::seconds(5), [&] { return wake.stop; });
    }
    listener.Stop();
    if (group_listener) group_listener->Stop();
    if (metrics) metrics->Stop();  // after a reexec the new khod writes the file
    if (exec_argv.empty()) {
      // A stop while a Freeze runs: that Freeze may still decide a reexec as
      // it ends, its handover durable and its reply sent. The calls in flight
      // end first, and a reexec one asked for goes ahead, the stop carried to
      // the khod it starts (below), instead of this khod leaving the handover
      // it just made behind.
      calls.WaitForCallsInFlight(std::chrono::milliseconds(0),
                                 std::chrono::steady_clock::now() + std::chrono::seconds(30));
      std::lock_guard<std::mutex> l(wake.mu);
      if (wake.exec_argv) {
        exec_argv = std::move(*wake.exec_argv);
        marks.ready_ns = wake.ready_ns;
        std::fprintf(stderr, "khod: a Freeze in flight when the stop came asked for a reexec\n");
      }
      wake.exec_argv.reset();
    }
    if (exec_argv.empty()) {
      // Lets calls in flight finish, and does not wait for idle clients to hang up.
      StopServer(server.get(), &calls, std::chrono::seconds(2));
      Notify("STOPPING=1");
      server.reset();
      std::fprintf(stderr, "khod: stopping on signal; session stays in %s\n",
                   v1::Phase_Name((*session)->phase()).c_str());
      return 0;
    }
    // A reexec: the Freeze call that asked for it (and any call in flight
    // with it) sends its reply first; the server is not shut down. The exec
    // closes its connections (close-on-exec) and ends its threads, and a
    // client sees its connection close and reconnects to the next khod on
    // the same socket (a call cut so is refused or read-only on this side:
    // the session is HANDED_OVER). gRPC's Shutdown waited for its threads
    // and its clients' connections inside the blackout (docs/PERFORMANCE.md).
    // No settle after the calls end: a call ends once gRPC has completed its
    // reply's send ops, which chttp2 completes only after the write reached
    // the socket (its write-covering closure barrier), and a unix socket has
    // queued the bytes on the peer by then, so the exec's close loses none.
    // A call that had not reached a handler is cut as one arriving later is.
    calls.WaitForCallsInFlight(std::chrono::milliseconds(0),
                               std::chrono::steady_clock::now() + std::chrono::seconds(2));
    if (!(*session)->BeginExec(exec_argv)) {
      // A Restore that came after Freeze's reply adopted this process's own
      // files: the session goes on here, as after a failed exec. (Or another
      // Freeze made a new handover: its argv is the next one to wake this.)
      std::fprintf(stderr, "khod: the session is no longer this handover: no reexec with it\n");
      StopServer(server.get(), &calls, std::chrono::seconds(2));
      server.reset();
      continue;
    }
    Notify(ReloadingNotice());  // a reexec, not a crash, until the new khod's READY=1
    std::fprintf(stderr, "khod: re-executing %s\n", exec_argv[0].c_str());
    std::fflush(stderr);
    ::fcntl(*lfd, F_SETFD, 0);  // the new khod keeps accepting on the same sockets
    if (group_lfd >= 0) ::fcntl(group_lfd, F_SETFD, 0);
    ::fcntl(lock->fd(), F_SETFD, 0);  // and holds the state dir's lock without a gap
    // The old address space outlives the exec in a holder: exec does not
    // wait for 2 GiB of page tables to be torn down, and the new khod reads
    // PFNs from them instead of populating its own (kernel/mapping_holder.h).
    Result<MappingHolder> holder = MappingHolder::Spawn((*session)->HolderKeepFds());
    if (holder.ok())
      exec_argv.push_back("--mapping-holder=" + std::to_string(holder->pid()));
    else
      std::fprintf(stderr, "khod: no mapping holder (%s)\n", holder.status().ToString().c_str());
    crash.Hit("exec");
    // A stop signal (an operator's, systemd's) that comes during a reexec is
    // never lost: it stops the khod the exec starts, once that one has opened
    // its session (adopting the handover), or this one when the exec fails.
    // The signals stay blocked across the exec, which keeps the mask and the
    // pending signals, and the new khod blocks the same set and takes them in
    // its own waiter: a signal pending at the exec reaches it. (Unblocking
    // them here would let one kill this khod with its default action.) The
    // waiter stops first, so that it cannot take a signal the exec then drops
    // with it; a stop it took that the main thread did not act on (it came
    // after, or with, the handover that ended the wait) is sent to the
    // process again: blocked in every thread, with no thread waiting, it
    // stays pending across the exec. When the exec fails the waiter runs
    // again and takes it, and this khod stops once it serves again.
    stop_signals.Stop();
    {
      std::lock_guard<std::mutex> l(wake.mu);
      if (wake.stop) {
        std::fprintf(stderr, "khod: %s came during the reexec: left pending across the exec\n",
                     wake.stop_signal == SIGINT ? "SIGINT" : "SIGTERM");
        ::kill(::getpid(), wake.stop_signal);
        wake.stop = false;
      }
    }
    // The children let go of and not yet reaped, read last (a holder that
    // Spawn gave up on is among them): the exec ends the threads that wait
    // for them, and the new khod waits instead (kernel/child_reaper.h). A pid
    // listed may be free by the exec and even this exec's holder's: the new
    // khod passes over the holder and keeper it is told of.
    const std::vector<pid_t> unreaped = ChildrenNotYetReaped();
    if (!unreaped.empty()) exec_argv.push_back("--reap=" + ReapArgument(unreaped));
    marks.exec_ns = MonotonicNs();
    exec_argv.push_back(ReexecTimingArgument(marks));
    Status s = ReexecTransport::Exec(program_fd, exec_argv);
    stop_signals.Start();
    ::fcntl(*lfd, F_SETFD, FD_CLOEXEC);
    if (group_lfd >= 0) ::fcntl(group_lfd, F_SETFD, FD_CLOEXEC);
    ::fcntl(lock->fd(), F_SETFD, FD_CLOEXEC);
    // Shut down (its threads joined) only now: the exec ends them anyway, and
    // joining them first was time inside the blackout.
    StopServer(server.get(), &calls, std::chrono::seconds(2));
    server.reset();
    (*session)->ExecFailed(s);
  }
}
