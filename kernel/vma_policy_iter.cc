#include "kernel/vma_policy_iter.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string_view>

#include "common/status_macros.h"
#include "common/unique_fd.h"
#include "kernel/bpf/vma_policy_program.h"
#include "kernel/bpf/vma_policy_record.h"
#include "kernel/pidfd.h"

namespace khod {

namespace {

constexpr char kProgramName[] = "khod_vma_policy";
constexpr char kKernelBtf[] = "/sys/kernel/btf/vmlinux";

// Reads while the process's mappings keep changing, before Read gives up.
constexpr int kReadAttempts = 8;

// The most records one read may hold: more VMAs than vm.max_map_count allows by default.
constexpr size_t kMaxRecords = size_t{1} << 19;
// The first read's buffer: room for the VMAs of a usual VMM.
constexpr size_t kFirstBuffer = 256 * 1024;

// What libbpf says while Load runs, for its error messages (libbpf's printer is global:
// Load holds g_load_mu while it is installed).
std::mutex g_load_mu;
std::string* g_libbpf_log = nullptr;

int CaptureLibbpf(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG || g_libbpf_log == nullptr) return 0;
  char line[512];
  const int n = std::vsnprintf(line, sizeof(line), format, args);
  if (n > 0 && g_libbpf_log->size() < 4096) g_libbpf_log->append(line);
  return n;
}

// libbpf's last words, on one line.
std::string LibbpfSaid(const std::string& log) {
  std::string s = log;
  while (!s.empty() && s.back() == '\n') s.pop_back();
  for (char& c : s)
    if (c == '\n') c = ';';
  if (s.size() > 600) s = "..." + s.substr(s.size() - 600);
  return s.empty() ? std::string() : " (libbpf: " + s + ")";
}

// bpf_object__close on every path.
struct ObjectCloser {
  void operator()(bpf_object* o) const { bpf_object__close(o); }
};

Status ExitedDuringRead(pid_t pid) {
  return Status::NotFound("process " + std::to_string(pid) + " exited during the read");
}

}  // namespace

Result<std::unique_ptr<VmaPolicyIterator>> VmaPolicyIterator::Load() {
  if (::access(kKernelBtf, R_OK) != 0) {
    const int err = errno;
    if (err == ENOENT)
      return Status::Unsupported(std::string("the kernel has no BTF (") + kKernelBtf +
                                 ": CONFIG_DEBUG_INFO_BTF is off)");
    return Status::FromErrno(kKernelBtf, err);
  }
  std::unique_ptr<bpf_object, ObjectCloser> object;
  int load_error = 0;
  std::string log;
  {
    std::lock_guard<std::mutex> lock(g_load_mu);
    g_libbpf_log = &log;
    const libbpf_print_fn_t previous = libbpf_set_print(CaptureLibbpf);
    bpf_object_open_opts opts;
    std::memset(&opts, 0, sizeof(opts));
    opts.sz = sizeof(opts);
    opts.object_name = kProgramName;
    // libelf reads the image in place: hand it a private copy, not the read-only array.
    const std::string image(reinterpret_cast<const char*>(kVmaPolicyBpfObject),
                            kVmaPolicyBpfObjectSize);
    object.reset(bpf_object__open_mem(image.data(), image.size(), &opts));
    if (!object)
      load_error = errno != 0 ? -errno : -EINVAL;
    else
      load_error = bpf_object__load(object.get());  // ends libelf's use of `image`
    libbpf_set_print(previous);
    g_libbpf_log = nullptr;
  }
  if (!object)
    return Status::Corruption("the embedded BPF object " + std::string(kProgramName) +
                              " does not open: " + std::strerror(-load_error) + LibbpfSaid(log));
  if (load_error != 0) {
    const std::string why = "loading the BPF program " + std::string(kProgramName) + ": " +
                            std::strerror(-load_error) + LibbpfSaid(log);
    if (load_error == -EPERM || load_error == -EACCES)
      return Status::PermissionDenied(why + " (it needs CAP_BPF and CAP_PERFMON)");
    return Status::Unsupported(why);
  }
  const bpf_program* program = bpf_object__find_program_by_name(object.get(), kProgramName);
  const int program_fd = program == nullptr ? -1 : bpf_program__fd(program);
  if (program_fd < 0)
    return Status::Internal("the BPF object holds no loaded program " + std::string(kProgramName));
  std::unique_ptr<VmaPolicyIterator> it(new VmaPolicyIterator(object.release(), program_fd));
  // Busy passes: the records were whole and of this layout up to where this process's own
  // threads changed its mappings, which says nothing of the kernel.
  Result<std::vector<VmaPolicy>> self = it->Read(::getpid());
  if (!self.ok() && self.status().code() != Status::Code::kBusy)
    return self.status().WithContext("reading this process's own VMAs with the program");
  return it;
}

VmaPolicyIterator::~VmaPolicyIterator() { bpf_object__close(object_); }

Result<std::vector<VmaPolicy>> VmaPolicyIterator::Read(pid_t pid) const {
  const std::string proc = "process " + std::to_string(pid);
  // The iterator's link takes the pid the pidfd names when it is made; the process still
  // running after the read (checked on the pidfd) proves the pid named it throughout.
  // The kernel filters the iterator on the pidfd only when pid_fd is not 0
  // (bpf_iter_attach_task): a pidfd of 0, when this process has no fd 0 open, would walk
  // every process. OpenPidfd never returns 0 to 2 (as libbpf keeps its own fds off them).
  KHOD_ASSIGN_OR_RETURN(const UniqueFd pidfd, OpenPidfd(pid));
  // Sized before each read, so that reading khod's own mappings does not change them (a
  // growth that maps memory is a writer); a read that outgrows it leaves the size for the next.
  std::string buffer(kFirstBuffer, '\0');
  for (int attempt = 0; attempt < kReadAttempts; ++attempt) {
    Result<std::vector<VmaPolicy>> vmas = ReadOnce(pid, pidfd.get(), &buffer);
    if (vmas.ok() || vmas.status().code() != Status::Code::kBusy) return vmas;
  }
  return Status::Busy("the mappings of " + proc + " changed during each of " +
                      std::to_string(kReadAttempts) + " reads of them");
}

Result<std::vector<VmaPolicy>> VmaPolicyIterator::ReadOnce(pid_t pid, int pidfd,
                                                           std::string* buffer) const {
  const std::string proc = "process " + std::to_string(pid);
  union bpf_iter_link_info info;
  std::memset(&info, 0, sizeof(info));
  info.task.pid_fd = static_cast<__u32>(pidfd);
  bpf_link_create_opts opts;
  std::memset(&opts, 0, sizeof(opts));
  opts.sz = sizeof(opts);
  opts.iter_info = &info;
  opts.iter_info_len = sizeof(info);
  UniqueFd link(bpf_link_create(program_fd_, 0, BPF_TRACE_ITER, &opts));
  if (!link.valid()) {
    const int err = errno;
    if (err == ESRCH) return Status::NotFound(proc + " does not exist");
    if (err == EINVAL || err == EOPNOTSUPP)
      return Status::Unsupported("the kernel refuses a task_vma iterator on " + proc + ": " +
                                 std::strerror(err) + " (it needs Linux 6.1)");
    return Status::FromErrno("creating the task_vma iterator link for " + proc, err);
  }
  UniqueFd iter(bpf_iter_create(link.get()));
  if (!iter.valid()) return Status::FromErrno("bpf_iter_create for " + proc, errno);
  constexpr size_t kRecord = sizeof(khod_vma_policy_record);
  constexpr size_t kMaxBytes = kMaxRecords * kRecord;
  size_t used = 0;
  for (;;) {
    // The task's record first, then exactly the VMA records it counts: a read() stops where
    // its size is reached, so the kernel stops at the end of the leader's walk instead of
    // walking the mm again for each other thread with a file table of its own (writing
    // nothing, and failing with EAGAIN after a million VMAs: vma_policy_record.h).
    const std::optional<size_t> whole = VmaPolicyReadBytes(std::string_view(buffer->data(), used));
    if (whole && used >= *whole) break;
    if (whole && *whole > kMaxBytes)
      return Status::ResourceExhausted(proc + " has " + std::to_string(*whole / kRecord - 1) +
                                       " VMAs, more than the " + std::to_string(kMaxRecords - 1) +
                                       " a read takes");
    if (whole && buffer->size() < *whole) buffer->resize(*whole);
    if (used == buffer->size()) {
      if (buffer->size() >= kMaxBytes)
        return Status::ResourceExhausted(proc + " gives more than " + std::to_string(kMaxRecords) +
                                         " records");
      buffer->resize(std::min(2 * buffer->size(), kMaxBytes));
    }
    size_t want = buffer->size() - used;
    if (used < kRecord)
      want = std::min(want, kRecord - used);
    else if (whole)
      want = std::min(want, *whole - used);
    const ssize_t n = ::read(iter.get(), buffer->data() + used, want);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno("reading the task_vma iterator of " + proc, errno);
    }
    if (n == 0) break;
    used += static_cast<size_t>(n);
  }
  pollfd exited = {pidfd, POLLIN, 0};
  const int ready = ::poll(&exited, 1, 0);
  if (ready < 0) return Status::FromErrno("poll of the pidfd of " + proc, errno);
  if (ready > 0) return ExitedDuringRead(pid);
  return DecodeVmaPolicyRecords(std::string_view(buffer->data(), used), pid);
}

const VmaPolicyIterator* SharedVmaPolicyIterator(std::string* why_not) {
  struct Shared {
    std::unique_ptr<VmaPolicyIterator> iterator;
    std::string why_not;
  };
  // Never destroyed: a thread may still read through it while the process exits.
  static const Shared* const shared = [] {
    auto* s = new Shared;
    Result<std::unique_ptr<VmaPolicyIterator>> loaded = VmaPolicyIterator::Load();
    if (loaded.ok())
      s->iterator = std::move(*loaded);
    else
      s->why_not = loaded.status().ToString();
    return s;
  }();
  if (shared->iterator == nullptr && why_not != nullptr) *why_not = shared->why_not;
  return shared->iterator.get();
}

}  // namespace khod
