#include "kernel/bpf_program.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <utility>

namespace khod {

namespace {

constexpr char kKernelBtf[] = "/sys/kernel/btf/vmlinux";

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

}  // namespace

Result<BpfProgram> BpfProgram::Load(const unsigned char* bytes, size_t size, const char* name) {
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
    opts.object_name = name;
    // libelf reads the image in place: hand it a private copy, not the read-only array.
    const std::string image(reinterpret_cast<const char*>(bytes), size);
    object.reset(bpf_object__open_mem(image.data(), image.size(), &opts));
    if (!object)
      load_error = errno != 0 ? -errno : -EINVAL;
    else
      load_error = bpf_object__load(object.get());  // ends libelf's use of `image`
    libbpf_set_print(previous);
    g_libbpf_log = nullptr;
  }
  if (!object)
    return Status::Corruption("the embedded BPF object " + std::string(name) +
                              " does not open: " + std::strerror(-load_error) + LibbpfSaid(log));
  if (load_error != 0) {
    const std::string why = "loading the BPF program " + std::string(name) + ": " +
                            std::strerror(-load_error) + LibbpfSaid(log);
    if (load_error == -EPERM || load_error == -EACCES)
      return Status::PermissionDenied(why + " (it needs CAP_BPF and CAP_PERFMON)");
    return Status::Unsupported(why);
  }
  const bpf_program* program = bpf_object__find_program_by_name(object.get(), name);
  const int fd = program == nullptr ? -1 : bpf_program__fd(program);
  if (fd < 0)
    return Status::Internal("the BPF object holds no loaded program " + std::string(name));
  return BpfProgram(object.release(), fd, name);
}

Result<BpfProgram> BpfProgram::Adopt(int fd, const char* name) {
  const std::string what = "fd " + std::to_string(fd) + " (handed over as " + name + ")";
  if (fd < 0) return Status::InvalidArgument(what + " is no fd");
  bpf_prog_info info;
  std::memset(&info, 0, sizeof(info));
  __u32 len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0)
    return Status::InvalidArgument(what + " is not a BPF object: " + std::strerror(errno));
  // bpf_obj_get_info_by_fd answers for maps and links too, with their own info: a program's
  // is told by its type, its name and its tag, which a map's or a link's info does not fill
  // the same way. Ask the fd's kind the kernel's way: /proc/self/fdinfo names prog_type.
  const std::string fdinfo = "/proc/self/fdinfo/" + std::to_string(fd);
  std::FILE* f = std::fopen(fdinfo.c_str(), "re");
  bool program = false;
  if (f != nullptr) {
    char line[256];
    while (std::fgets(line, sizeof(line), f) != nullptr)
      if (std::strncmp(line, "prog_type:", 10) == 0) program = true;
    std::fclose(f);
  }
  if (!program) return Status::InvalidArgument(what + " is a BPF object but not a program");
  if (info.type != BPF_PROG_TYPE_TRACING)
    return Status::InvalidArgument(what + " is a BPF program of type " + std::to_string(info.type) +
                                   ", not a tracing (iterator) one");
  const std::string expected = std::string(name).substr(0, BPF_OBJ_NAME_LEN - 1);
  const std::string got(info.name, strnlen(info.name, sizeof(info.name)));
  if (got != expected)
    return Status::InvalidArgument(what + " is the BPF program '" + got + "', not '" + expected +
                                   "'");
  return BpfProgram(nullptr, fd, name);
}

BpfProgram::BpfProgram(BpfProgram&& o) noexcept
    : object_(std::exchange(o.object_, nullptr)),
      fd_(std::exchange(o.fd_, -1)),
      name_(std::move(o.name_)) {}

BpfProgram& BpfProgram::operator=(BpfProgram&& o) noexcept {
  if (this != &o) {
    if (object_)
      bpf_object__close(object_);
    else if (fd_ >= 0)
      ::close(fd_);
    object_ = std::exchange(o.object_, nullptr);
    fd_ = std::exchange(o.fd_, -1);
    name_ = std::move(o.name_);
  }
  return *this;
}

BpfProgram::~BpfProgram() {
  if (object_)
    bpf_object__close(object_);
  else if (fd_ >= 0)
    ::close(fd_);
}

namespace {

std::mutex g_programs_mu;
// Never destroyed: readers may note or take while the process exits.
std::map<std::string, BpfProgram>& Adopted() {
  static auto* m = new std::map<std::string, BpfProgram>;
  return *m;
}
std::map<std::string, int>& Kept() {
  static auto* m = new std::map<std::string, int>;
  return *m;
}

}  // namespace

void OfferAdoptedBpfProgram(BpfProgram program) {
  std::lock_guard<std::mutex> lock(g_programs_mu);
  const std::string name = program.name();
  Adopted().erase(name);
  Adopted().emplace(name, std::move(program));
}

std::optional<BpfProgram> TakeAdoptedBpfProgram(const std::string& name) {
  std::lock_guard<std::mutex> lock(g_programs_mu);
  auto it = Adopted().find(name);
  if (it == Adopted().end()) return std::nullopt;
  std::optional<BpfProgram> p(std::move(it->second));
  Adopted().erase(it);
  return p;
}

void NoteKeptBpfProgram(const std::string& name, int fd) {
  std::lock_guard<std::mutex> lock(g_programs_mu);
  Kept()[name] = fd;
}

std::vector<std::pair<std::string, int>> KeptBpfPrograms() {
  std::lock_guard<std::mutex> lock(g_programs_mu);
  return {Kept().begin(), Kept().end()};
}

Result<UniqueFd> BpfProgram::OpenTaskIterator(pid_t pid, int pidfd, const char* kind) const {
  const std::string proc = "process " + std::to_string(pid);
  // The iterator's link takes the pid the pidfd names when it is made; a caller that finds
  // the process still running after its read (on the pidfd) knows the pid named it
  // throughout. The kernel filters the iterator on the pidfd only when pid_fd is not 0
  // (bpf_iter_attach_task).
  union bpf_iter_link_info info;
  std::memset(&info, 0, sizeof(info));
  info.task.pid_fd = static_cast<__u32>(pidfd);
  bpf_link_create_opts opts;
  std::memset(&opts, 0, sizeof(opts));
  opts.sz = sizeof(opts);
  opts.iter_info = &info;
  opts.iter_info_len = sizeof(info);
  UniqueFd link(bpf_link_create(fd_, 0, BPF_TRACE_ITER, &opts));
  if (!link.valid()) {
    const int err = errno;
    if (err == ESRCH) return Status::NotFound(proc + " does not exist");
    if (err == EINVAL || err == EOPNOTSUPP)
      return Status::Unsupported(std::string("the kernel refuses a ") + kind + " iterator on " +
                                 proc + ": " + std::strerror(err) + " (it needs Linux 6.1)");
    return Status::FromErrno(std::string("creating the ") + kind + " iterator link for " + proc,
                             err);
  }
  UniqueFd iter(bpf_iter_create(link.get()));
  if (!iter.valid()) return Status::FromErrno("bpf_iter_create for " + proc, errno);
  return iter;
}

}  // namespace khod
