#include "kernel/mapping_holder.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "common/status_macros.h"
#include "kernel/child_reaper.h"
#include "kernel/held_mapping.h"
#include "kernel/idle_teardown.h"
#include "kernel/proc_stat.h"

namespace khod {
namespace {

constexpr size_t kHolderStack = 64 * 1024;

// Shared with the holder (same address space): set once its fds are closed.
std::atomic<int> g_holder_ready{0};
// The fds it keeps open (Spawn's `keep`), ascending; set before the clone.
constexpr size_t kMaxKept = 4096;
int g_keep[kMaxKept];
size_t g_keep_count = 0;
// The process that clones it: the holder's parent until that one dies.
pid_t g_parent = 0;
// Test hook (MappingHolder::DelayStartForTest): nanoseconds the holder waits
// before it asks for its parent-death signal.
int64_t g_start_delay_ns = 0;

// Runs in the holder, on its own stack, in khod's address space and with
// khod's TLS: raw syscalls only, nothing that takes a lock or sets errno on
// the paths that matter.
int HolderMain(void*) {
  sigset_t all;
  sigfillset(&all);
  ::syscall(SYS_rt_sigprocmask, SIG_BLOCK, &all, nullptr, sizeof(uint64_t));
  if (g_start_delay_ns > 0) {
    struct timespec d = {static_cast<time_t>(g_start_delay_ns / 1000000000),
                         static_cast<long>(g_start_delay_ns % 1000000000)};
    ::syscall(SYS_nanosleep, &d, nullptr);
  }
  ::syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  // A parent that died before the line above sent no signal: the holder
  // would pause for ever, keeping khod's old address space (every guest
  // mapping) alive. Re-parented, it has no one to hold it for.
  if (::syscall(SYS_getppid) != g_parent) ::syscall(SYS_exit, 0);
  unsigned from = 0;
  for (size_t i = 0; i < g_keep_count; ++i) {
    const unsigned fd = static_cast<unsigned>(g_keep[i]);
    if (fd > from) ::syscall(SYS_close_range, from, fd - 1, 0u);
    from = fd + 1;
  }
  ::syscall(SYS_close_range, from, ~0u, 0u);
  g_holder_ready.store(1, std::memory_order_release);
  for (;;) ::syscall(SYS_pause);
  return 0;
}

}  // namespace

MappingHolder& MappingHolder::operator=(MappingHolder&& o) noexcept {
  if (this != &o) {
    Release();
    pid_ = o.pid_;
    o.pid_ = -1;
  }
  return *this;
}

Result<MappingHolder> MappingHolder::Spawn(std::vector<int> keep) {
  std::sort(keep.begin(), keep.end());
  keep.erase(std::unique(keep.begin(), keep.end()), keep.end());
  g_keep_count = 0;
  for (int fd : keep)
    if (fd >= 0 && g_keep_count < kMaxKept) g_keep[g_keep_count++] = fd;
  // Never unmapped: it lives in the address space the holder keeps.
  void* stack = ::mmap(nullptr, kHolderStack, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) return Status::FromErrno("mmap mapping holder stack", errno);
  g_holder_ready.store(0);
  g_parent = ::getpid();
  const pid_t pid =
      ::clone(HolderMain, static_cast<char*>(stack) + kHolderStack, CLONE_VM | SIGCHLD, nullptr);
  if (pid < 0) {
    const int err = errno;
    ::munmap(stack, kHolderStack);
    return Status::FromErrno("clone(CLONE_VM) mapping holder", err);
  }
  MappingHolder h(pid);
  // It must have dropped its copies of khod's fds before khod execs (a client
  // socket it still held would never see EOF). Microseconds in practice.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (!g_holder_ready.load(std::memory_order_acquire)) {
    if (std::chrono::steady_clock::now() > deadline)
      return Status::Busy("mapping holder pid " + std::to_string(pid) +
                          " did not start within 2 s");
    std::this_thread::yield();
  }
  return h;
}

Result<MappingHolder> MappingHolder::Adopt(pid_t pid) {
  KHOD_RETURN_IF_ERROR(CheckOwnLiveChild(pid, "mapping holder"));
  // Its address space is the old khod's, which exec left behind: nothing
  // changes its mappings any more (a spawned holder shares a running khod's).
  HeldMapping::FixedMappings(pid);
  return MappingHolder(pid);
}

void MappingHolder::Release() {
  if (pid_ <= 0) return;
  const pid_t pid = pid_;
  pid_ = -1;
  HeldMapping::ForgetFixedMappings(pid);  // before it is reaped and its pid free
  (void)SetIdleScheduling(pid);           // its exit frees the old address space
  ::kill(pid, SIGKILL);
  ReapWhenItExits(pid);
}

void MappingHolder::DelayStartForTest(std::chrono::nanoseconds delay) {
  g_start_delay_ns = delay.count();
}

pid_t MappingHolder::Detach() {
  const pid_t pid = pid_;
  pid_ = -1;
  if (pid > 0) HeldMapping::ForgetFixedMappings(pid);
  return pid;
}

}  // namespace khod
