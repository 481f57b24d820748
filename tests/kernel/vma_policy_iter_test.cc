// kernel/vma_policy_iter.h on this kernel: a child process maps anonymous memory, a regular
// file (no get_policy op: mbind sets the VMA's own policy, as on a Linux 6.18 guest_memfd)
// and a shmem memfd under a policy each, with and without a task policy; every VMA the
// iterator answers must hold the policy /proc/PID/numa_maps shows at the same start, parsed
// by kernel/numa_maps.h. Skipped, with the reason, where the program cannot be loaded.
#include "kernel/vma_policy_iter.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/magic.h>
#include <linux/mempolicy.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <new>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "kernel/mempolicy_text.h"
#include "kernel/numa_maps.h"
#include "tests/support/fixture.h"

namespace khod {
namespace {

constexpr int kPreferredMany = 5;              // MPOL_PREFERRED_MANY
constexpr int kWeightedInterleave = 6;         // MPOL_WEIGHTED_INTERLEAVE
constexpr uint32_t kNumaBalancing = 1u << 13;  // MPOL_F_NUMA_BALANCING

// Node 0: the node every machine has.
constexpr unsigned long kNode0 = 1;

struct PolicySpec {
  int mode;
  uint32_t flags;
  bool required;  // false: a kernel may refuse it (newer modes, balancing)
};

// One page of the anonymous mapping each, in this order: neighbours differ, so each page
// is a VMA of its own.
constexpr PolicySpec kAnonSpecs[] = {
    {MPOL_BIND, 0, true},
    {MPOL_INTERLEAVE, 0, true},
    {MPOL_INTERLEAVE, MPOL_F_RELATIVE_NODES, true},
    {MPOL_INTERLEAVE, MPOL_F_STATIC_NODES, true},
    {MPOL_PREFERRED, 0, true},
    {MPOL_LOCAL, 0, true},
    {kPreferredMany, 0, false},
    {kWeightedInterleave, 0, false},
    {MPOL_DEFAULT, 0, true},
    {MPOL_BIND, kNumaBalancing, false},
    {MPOL_PREFERRED, MPOL_F_STATIC_NODES, true},
};
constexpr size_t kAnonPages = sizeof(kAnonSpecs) / sizeof(kAnonSpecs[0]);

// Pages of the file mapping; the last two keep no policy of their own.
constexpr PolicySpec kFileSpecs[] = {
    {MPOL_BIND, 0, true},
    {MPOL_INTERLEAVE, MPOL_F_STATIC_NODES, true},
    {MPOL_PREFERRED, 0, true},
    {MPOL_LOCAL, 0, true},
};
constexpr size_t kFileSpecPages = sizeof(kFileSpecs) / sizeof(kFileSpecs[0]);
constexpr size_t kFilePages = kFileSpecPages + 2;
constexpr size_t kMemfdPages = 4;

bool TakesNodes(int mode) { return mode != MPOL_DEFAULT && mode != MPOL_LOCAL; }

// mbind through the raw syscall (no libnuma): 0 or the errno.
int Mbind(void* addr, size_t length, const PolicySpec& spec) {
  const bool nodes = TakesNodes(spec.mode);
  const long r = ::syscall(SYS_mbind, addr, length, spec.mode | static_cast<int>(spec.flags),
                           nodes ? &kNode0 : nullptr, nodes ? 8 * sizeof(kNode0) : 0, 0);
  return r == 0 ? 0 : errno;
}

// What numa_maps prints for `spec` on a machine whose only node is 0.
Mempolicy Expected(const PolicySpec& spec) {
  Mempolicy p;
  p.mode = spec.mode;
  p.mode_flags = spec.flags;
  if (TakesNodes(spec.mode)) p.nodemask = {kNode0};
  return p;
}

// What the child made, sent up a pipe.
struct Layout {
  int error = 0;  // errno of a set-up step that failed, with its name in `what`
  char what[64] = {};
  uint64_t anon = 0;
  int anon_refused[kAnonPages] = {};  // mbind's errno per page
  uint64_t file = 0;
  uint64_t memfd = 0;
  uint64_t memfd_inode = 0;
};

// A forked child that runs `set_up` (its report, a plain struct, comes back on a pipe) and
// then waits, unchanged, until this object is destroyed; it is reaped then.
template <typename Report>
class HeldChild {
 public:
  explicit HeldChild(const std::function<Report()>& set_up) {
    int up[2], down[2];
    if (::pipe(up) != 0 || ::pipe(down) != 0) std::abort();
    pid_ = ::fork();
    if (pid_ < 0) std::abort();
    if (pid_ == 0) {
      ::close(up[0]);
      ::close(down[1]);
      const Report report = set_up();
      if (::write(up[1], &report, sizeof(report)) != sizeof(report)) ::_exit(1);
      char c;
      while (::read(down[0], &c, 1) > 0) {
      }
      ::_exit(0);
    }
    ::close(up[1]);
    ::close(down[0]);
    go_ = down[1];
    ok_ = ::read(up[0], &report_, sizeof(report_)) == sizeof(report_);
    ::close(up[0]);
  }
  ~HeldChild() {
    ::close(go_);
    ::waitpid(pid_, nullptr, 0);
  }
  HeldChild(const HeldChild&) = delete;
  HeldChild& operator=(const HeldChild&) = delete;
  pid_t pid() const { return pid_; }
  bool ok() const { return ok_; }
  const Report& report() const { return report_; }

 private:
  pid_t pid_ = -1;
  int go_ = -1;
  bool ok_ = false;
  Report report_{};
};

// A child that maps memory under policies and waits until the test is done with it.
class PolicyChild {
 public:
  // `file_fd`: a regular file of kFilePages pages the child maps shared.
  PolicyChild(int file_fd, bool task_policy)
      : child_([=] { return SetUp(file_fd, task_policy); }) {}
  pid_t pid() const { return child_.pid(); }
  bool ok() const { return child_.ok(); }
  const Layout& layout() const { return child_.report(); }

 private:
  static Layout SetUp(int file_fd, bool task_policy) {
    Layout l;
    const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    auto fail = [&l](const char* what) {
      l.error = errno;
      std::snprintf(l.what, sizeof(l.what), "%s", what);
      return l;
    };
    if (task_policy &&
        ::syscall(SYS_set_mempolicy, MPOL_INTERLEAVE, &kNode0, 8 * sizeof(kNode0)) != 0)
      return fail("set_mempolicy");
    void* anon = ::mmap(nullptr, kAnonPages * page, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (anon == MAP_FAILED) return fail("mmap anonymous");
    l.anon = reinterpret_cast<uint64_t>(anon);
    for (size_t i = 0; i < kAnonPages; ++i)
      l.anon_refused[i] = Mbind(static_cast<char*>(anon) + i * page, page, kAnonSpecs[i]);
    void* file = ::mmap(nullptr, kFilePages * page, PROT_READ | PROT_WRITE, MAP_SHARED, file_fd, 0);
    if (file == MAP_FAILED) return fail("mmap file");
    l.file = reinterpret_cast<uint64_t>(file);
    for (size_t i = 0; i < kFileSpecPages; ++i)
      if ((errno = Mbind(static_cast<char*>(file) + i * page, page, kFileSpecs[i])) != 0)
        return fail("mbind file");
    const int memfd = static_cast<int>(::syscall(SYS_memfd_create, "vma_policy", 0));
    struct stat st;
    if (memfd < 0 || ::ftruncate(memfd, kMemfdPages * page) != 0 || ::fstat(memfd, &st) != 0)
      return fail("memfd");
    void* shm = ::mmap(nullptr, kMemfdPages * page, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
    if (shm == MAP_FAILED) return fail("mmap memfd");
    l.memfd = reinterpret_cast<uint64_t>(shm);
    l.memfd_inode = st.st_ino;
    if ((errno = Mbind(shm, kMemfdPages * page, {MPOL_BIND, 0, true})) != 0)
      return fail("mbind memfd");
    return l;
  }

  HeldChild<Layout> child_;
};

// /proc/PID/numa_maps, parsed: policy by start address.
std::map<uint64_t, Mempolicy> NumaMaps(pid_t pid) {
  std::map<uint64_t, Mempolicy> out;
  std::ifstream in("/proc/" + std::to_string(pid) + "/numa_maps");
  std::string line;
  while (std::getline(in, line)) {
    Result<NumaMapsEntry> e = ParseNumaMapsLine(line);
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    if (e.ok()) out[e->start] = e->policy;
  }
  return out;
}

const VmaPolicy* Containing(const std::vector<VmaPolicy>& vmas, uint64_t addr) {
  for (const VmaPolicy& v : vmas)
    if (v.start <= addr && addr < v.end) return &v;
  return nullptr;
}

// Whether the iterator's policy `read` is what numa_maps shows as `shown`: the same mode, flags
// and nodes. numa_maps does not print the home node (not seen where the mode can hold one);
// the iterator has seen it.
::testing::AssertionResult AsNumaMapsShows(const Mempolicy& read, const Mempolicy& shown) {
  if (read.mode != shown.mode || read.mode_flags != shown.mode_flags ||
      read.nodemask != shown.nodemask)
    return ::testing::AssertionFailure()
           << "iterator " << MempolicyToString(read) << ", numa_maps " << MempolicyToString(shown);
  if (!read.home_node_seen)
    return ::testing::AssertionFailure()
           << "the iterator did not see the home node: " << MempolicyToString(read);
  if (shown.home_node_seen == ModeCanHaveHomeNode(shown.mode) || shown.home_node != -1)
    return ::testing::AssertionFailure()
           << "numa_maps said to show a home node: " << MempolicyToString(shown);
  return ::testing::AssertionSuccess();
}

// Every VMA of `vmas` at a start numa_maps shows, with its policy where answered, and every
// VMA of numa_maps but the gate VMA ([vsyscall], which no mm holds) iterated.
void ExpectAsNumaMaps(pid_t pid, const std::vector<VmaPolicy>& vmas) {
  const std::map<uint64_t, Mempolicy> numa_maps = NumaMaps(pid);
  for (const VmaPolicy& v : vmas) {
    auto it = numa_maps.find(v.start);
    ASSERT_NE(it, numa_maps.end()) << std::hex << v.start << " is not in numa_maps";
    if (v.answered) {
      EXPECT_TRUE(AsNumaMapsShows(v.policy, it->second)) << std::hex << v.start;
    }
  }
  for (const auto& [start, policy] : numa_maps) {
    if (start < 0xffff800000000000u) {
      EXPECT_NE(Containing(vmas, start), nullptr) << std::hex << start << " not iterated";
    }
  }
}

// The VMA ranges of `vmas`, to compare two reads.
std::vector<std::pair<uint64_t, uint64_t>> Ranges(const std::vector<VmaPolicy>& vmas) {
  std::vector<std::pair<uint64_t, uint64_t>> out;
  for (const VmaPolicy& v : vmas) out.emplace_back(v.start, v.end);
  return out;
}

// A child process whose leader waits under a task policy while a second thread has a file
// table of its own (unshare(CLONE_FILES)): a pidfd task_vma iterator walks the mm once for
// the leader and again for that thread.
class UnsharedFilesChild {
 public:
  UnsharedFilesChild() : child_(SetUp) {}
  pid_t pid() const { return child_.pid(); }
  bool ok() const { return child_.ok(); }
  int error() const { return child_.report(); }  // errno of set_mempolicy or unshare, else 0

 private:
  static int SetUp() {
    int error = 0;
    if (::syscall(SYS_set_mempolicy, MPOL_INTERLEAVE, &kNode0, 8 * sizeof(kNode0)) != 0)
      error = errno;
    int ready[2];
    if (::pipe(ready) != 0) std::abort();
    // `ready` is used by the thread only before the read below returns.
    std::thread([&ready] {
      const int e = ::unshare(CLONE_FILES) == 0 ? 0 : errno;
      if (::write(ready[1], &e, sizeof(e)) != sizeof(e)) ::_exit(1);
      for (;;) ::pause();
    }).detach();
    int e = 0;
    if (::read(ready[0], &e, sizeof(e)) != sizeof(e)) ::_exit(1);
    return error == 0 ? e : error;
  }

  HeldChild<int> child_;
};

// A child with kVmas VMAs whose kThreads threads each have a file table of their own: after
// the leader's walk a pidfd iterator walks its mm once per such thread, writing nothing. A
// read() stops after a million objects (bpf_seq_read's MAX_ITER_OBJECTS), with EAGAIN when it
// wrote nothing: (kThreads - 1) * kVmas is more than two million, so the read() after the one
// that returns the leader's last records walks a million without writing.
class ManyWalksChild {
 public:
  static constexpr int kVmas = 60000;  // under vm.max_map_count's default, 65530
  static constexpr int kThreads = 40;
  ManyWalksChild() : child_(SetUp) {}
  pid_t pid() const { return child_.pid(); }
  bool ok() const { return child_.ok(); }
  int error() const { return child_.report(); }  // errno of mmap, mprotect or unshare, else 0

 private:
  static int SetUp() {
    const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    char* m = static_cast<char*>(::mmap(nullptr, kVmas * page, PROT_NONE,
                                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
    if (m == MAP_FAILED) return errno;
    // Every other page readable: a VMA each (neighbours of one protection would merge).
    for (int i = 0; i < kVmas; i += 2)
      if (::mprotect(m + i * page, page, PROT_READ) != 0) return errno;
    int ready[2];
    if (::pipe(ready) != 0) return errno;
    for (int t = 1; t < kThreads; ++t)
      std::thread([w = ready[1]] {
        const int e = ::unshare(CLONE_FILES) == 0 ? 0 : errno;
        if (::write(w, &e, sizeof(e)) != sizeof(e)) ::_exit(1);
        for (;;) ::pause();
      }).detach();
    for (int t = 1; t < kThreads; ++t) {
      int e = 0;
      if (::read(ready[0], &e, sizeof(e)) != sizeof(e)) ::_exit(1);
      if (e != 0) return e;
    }
    return 0;
  }

  HeldChild<int> child_;
};

class VmaPolicyIterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    iterator_ = SharedVmaPolicyIterator(&why);
    if (iterator_ == nullptr) GTEST_SKIP() << "the VMA policy iterator cannot load: " << why;
  }

  // An unlinked regular file of kFilePages pages, on a filesystem whose files have no
  // get_policy op (not tmpfs): under TEST_TMPDIR, else /var/tmp. Its name goes as soon as it is
  // open (the test knows it by its fd and inode), so a test that crashes leaves nothing there.
  void MakeFile() {
    const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    std::string dir = dir_.path();
    std::string var_tmp_dir;
    struct statfs fs;
    if (::statfs(dir.c_str(), &fs) == 0 &&
        (fs.f_type == TMPFS_MAGIC || fs.f_type == HUGETLBFS_MAGIC)) {
      var_tmp_dir = "/var/tmp/khod-vma-policy.XXXXXX";
      ASSERT_NE(::mkdtemp(var_tmp_dir.data()), nullptr) << std::strerror(errno);
      dir = var_tmp_dir;
    }
    const std::string path = dir + "/policy-file";
    file_fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    const int open_errno = errno;
    ::unlink(path.c_str());
    if (!var_tmp_dir.empty()) ::rmdir(var_tmp_dir.c_str());
    ASSERT_GE(file_fd_, 0) << path << ": " << std::strerror(open_errno);
    ASSERT_EQ(::ftruncate(file_fd_, kFilePages * page), 0);
    ASSERT_EQ(::fstat(file_fd_, &file_stat_), 0);
  }

  void TearDown() override {
    if (file_fd_ >= 0) ::close(file_fd_);
  }

  // Every VMA answered as numa_maps shows it; the policies the child set, where they are.
  void CheckChild(bool task_policy) {
    ASSERT_NO_FATAL_FAILURE(MakeFile());
    PolicyChild child(file_fd_, task_policy);
    ASSERT_TRUE(child.ok());
    const Layout& l = child.layout();
    ASSERT_EQ(l.error, 0) << l.what << ": " << std::strerror(l.error);
    Result<std::vector<VmaPolicy>> vmas = iterator_->Read(child.pid());
    ASSERT_TRUE(vmas.ok()) << vmas.status().ToString();
    ASSERT_NO_FATAL_FAILURE(ExpectAsNumaMaps(child.pid(), *vmas));
    size_t answered = 0;
    for (const VmaPolicy& v : *vmas) answered += v.answered;
    EXPECT_GT(answered, kAnonPages);

    const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    Mempolicy task;
    if (task_policy) task = Expected({MPOL_INTERLEAVE, 0, true});
    for (size_t i = 0; i < kAnonPages; ++i) {
      const PolicySpec& spec = kAnonSpecs[i];
      if (l.anon_refused[i] != 0) {
        EXPECT_FALSE(spec.required) << "mbind mode " << spec.mode << " flags " << spec.flags << ": "
                                    << std::strerror(l.anon_refused[i]);
        continue;
      }
      const VmaPolicy* v = Containing(*vmas, l.anon + i * page);
      ASSERT_NE(v, nullptr);
      EXPECT_TRUE(v->answered);
      EXPECT_EQ(v->inode, 0u);
      EXPECT_EQ(v->dev, 0u);
      EXPECT_EQ(v->policy, spec.mode == MPOL_DEFAULT ? task : Expected(spec))
          << "anonymous page " << i << ": " << MempolicyToString(v->policy);
    }
    for (size_t i = 0; i < kFilePages; ++i) {
      const VmaPolicy* v = Containing(*vmas, l.file + i * page);
      ASSERT_NE(v, nullptr);
      EXPECT_TRUE(v->answered) << "file page " << i;
      EXPECT_EQ(v->inode, file_stat_.st_ino);
      EXPECT_EQ(v->dev, file_stat_.st_dev);
      EXPECT_EQ(v->pgoff, (v->start - l.file) / page);
      EXPECT_EQ(v->policy, i < kFileSpecPages ? Expected(kFileSpecs[i]) : task)
          << "file page " << i << ": " << MempolicyToString(v->policy);
    }
    const VmaPolicy* shm = Containing(*vmas, l.memfd);
    ASSERT_NE(shm, nullptr);
    EXPECT_FALSE(shm->answered) << "shmem's get_policy decides a memfd's policy";
    EXPECT_EQ(shm->inode, l.memfd_inode);
    EXPECT_EQ(shm->start, l.memfd);
    EXPECT_EQ(shm->end, l.memfd + kMemfdPages * page);
  }

  const VmaPolicyIterator* iterator_ = nullptr;
  TempDir dir_{"vma-policy"};
  int file_fd_ = -1;
  struct stat file_stat_ = {};
};

// What the child of TheHomeNodeIsReadFromTheVmaPolicy made.
struct HomeLayout {
  int error = 0;  // errno of the set-up step named in `what`
  char what[64] = {};
  int home_error = 0;  // errno of set_mempolicy_home_node, 0 when it gave the node
  uint64_t anon = 0;   // 2 pages, mbound bind:0; the first homed on node 0
  uint64_t file = 0;   // 2 pages of the file, the same
};

// A process that mbinds an anonymous mapping and a regular file's (its policy its VMA's, as a
// guest_memfd's on Linux 6.18) MPOL_BIND to node 0, then gives the first page of each a home
// node (set_mempolicy_home_node(2), which only bind and preferred-many policies take): the
// iterator reads the home node of each, and none (-1) of the pages mbind alone made, each
// seen. numa_maps shows neither.
TEST_F(VmaPolicyIterTest, TheHomeNodeIsReadFromTheVmaPolicy) {
  ASSERT_NO_FATAL_FAILURE(MakeFile());
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  const int fd = file_fd_;
  HeldChild<HomeLayout> child([fd, page] {
    HomeLayout l;
    auto fail = [&l](const char* what) {
      l.error = errno;
      std::snprintf(l.what, sizeof(l.what), "%s", what);
      return l;
    };
    char* anon = static_cast<char*>(
        ::mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    if (anon == MAP_FAILED) return fail("mmap anonymous");
    char* file =
        static_cast<char*>(::mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
    if (file == MAP_FAILED) return fail("mmap file");
    l.anon = reinterpret_cast<uint64_t>(anon);
    l.file = reinterpret_cast<uint64_t>(file);
    for (char* m : {anon, file})
      if ((errno = Mbind(m, 2 * page, {MPOL_BIND, 0, true})) != 0) return fail("mbind");
    for (char* m : {anon, file})
      if (::syscall(SYS_set_mempolicy_home_node, m, page, 0UL, 0UL) != 0) {
        l.home_error = errno;
        break;
      }
    return l;
  });
  ASSERT_TRUE(child.ok());
  const HomeLayout& l = child.report();
  ASSERT_EQ(l.error, 0) << l.what << ": " << std::strerror(l.error);
  if (l.home_error == ENOSYS)
    GTEST_SKIP() << "no set_mempolicy_home_node (Linux 5.17): " << std::strerror(l.home_error);
  ASSERT_EQ(l.home_error, 0) << "set_mempolicy_home_node: " << std::strerror(l.home_error);
  Result<std::vector<VmaPolicy>> vmas = iterator_->Read(child.pid());
  ASSERT_TRUE(vmas.ok()) << vmas.status().ToString();
  ASSERT_NO_FATAL_FAILURE(ExpectAsNumaMaps(child.pid(), *vmas));
  Mempolicy homed = Expected({MPOL_BIND, 0, true});
  homed.home_node = 0;
  const Mempolicy plain = Expected({MPOL_BIND, 0, true});
  for (uint64_t start : {l.anon, l.file}) {
    const VmaPolicy* first = Containing(*vmas, start);
    const VmaPolicy* second = Containing(*vmas, start + page);
    ASSERT_NE(first, nullptr);
    ASSERT_NE(second, nullptr);
    EXPECT_NE(first, second) << "a home node of its own splits the VMA";
    EXPECT_TRUE(first->answered);
    EXPECT_TRUE(second->answered);
    EXPECT_EQ(first->policy.home_node, 0) << std::hex << start;
    EXPECT_TRUE(first->policy.home_node_seen) << std::hex << start;
    EXPECT_EQ(first->policy, homed) << MempolicyToString(first->policy);
    EXPECT_EQ(MempolicyToString(first->policy), "bind nodes=0 home=0");
    EXPECT_EQ(second->policy.home_node, -1) << std::hex << start + page;
    EXPECT_TRUE(second->policy.home_node_seen) << std::hex << start + page;
    EXPECT_EQ(second->policy, plain) << MempolicyToString(second->policy);
    EXPECT_EQ(MempolicyToString(second->policy), "bind nodes=0");
  }
}

TEST_F(VmaPolicyIterTest, AnswersAsNumaMapsWithoutATaskPolicy) { CheckChild(false); }

TEST_F(VmaPolicyIterTest, AnswersAsNumaMapsUnderATaskPolicy) { CheckChild(true); }

TEST_F(VmaPolicyIterTest, ReadsFromSeveralThreadsAtOnce) {
  ASSERT_NO_FATAL_FAILURE(MakeFile());
  PolicyChild child(file_fd_, true);
  ASSERT_TRUE(child.ok());
  ASSERT_EQ(child.layout().error, 0) << child.layout().what;
  Result<std::vector<VmaPolicy>> first = iterator_->Read(child.pid());
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  constexpr int kThreads = 8, kReads = 20;
  std::vector<int> same(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kReads; ++i) {
        Result<std::vector<VmaPolicy>> r = iterator_->Read(child.pid());
        if (!r.ok() || r->size() != first->size()) continue;
        bool equal = true;
        for (size_t k = 0; k < r->size(); ++k) {
          const VmaPolicy &a = (*r)[k], &b = (*first)[k];
          equal = equal && a.start == b.start && a.end == b.end && a.inode == b.inode &&
                  a.answered == b.answered && a.policy == b.policy;
        }
        same[t] += equal;
      }
    });
  for (std::thread& t : threads) t.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(same[t], kReads) << "thread " << t;
}

// A child process of this test, killed and reaped when this goes out of scope.
struct KilledAtEnd {
  pid_t pid;
  ~KilledAtEnd() {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
};

// The region the child of AChangingProcessReadsWholeOrBusy carves out of one PROT_NONE
// reservation with MAP_FIXED: kShapePages one-page VMAs, read-write and PROT_NONE in turn (no
// two merge), between two PROT_NONE guard pages that keep them apart from the mappings around.
// In shape A every page is under kShapeA, in shape B under kShapeB: one mbind of the region
// turns one into the other under one mmap_write_lock, so a consistent read sees one shape
// whole. A read a writer tore shows some pages of each. More VMAs than one 32 KiB batch of
// the iterator's records holds: every read drops the mmap_lock inside the region.
constexpr size_t kShapePages = 255;  // odd: the first and last are read-write
constexpr PolicySpec kShapeA = {MPOL_BIND, 0, true};
constexpr PolicySpec kShapeB = {MPOL_INTERLEAVE, MPOL_F_STATIC_NODES, true};

// What the child reports before it starts changing shapes.
struct ShapeRegion {
  int error = 0;  // errno of the set-up step named in `what`
  char what[32] = {};
  uint64_t start = 0;  // the first page of the region (after the guard)
};

// Whether `vmas`, cut to [region, region + kShapePages pages), is the region in the shape of
// `spec` exactly.
bool IsShape(const std::vector<VmaPolicy>& vmas, uint64_t region, size_t page,
             const PolicySpec& spec) {
  const uint64_t end = region + kShapePages * page;
  size_t k = 0;
  for (const VmaPolicy& v : vmas) {
    if (v.end <= region || v.start >= end) continue;
    if (k >= kShapePages || v.start != region + k * page || v.end != v.start + page ||
        !v.answered || !(v.policy == Expected(spec)))
      return false;
    ++k;
  }
  return k == kShapePages;
}

// Pages of the region under each shape's policy, and the rest, to say how a read was torn.
std::string Describe(const std::vector<VmaPolicy>& vmas, uint64_t region, size_t page) {
  const uint64_t end = region + kShapePages * page;
  size_t a = 0, b = 0, other = 0;
  for (const VmaPolicy& v : vmas) {
    if (v.end <= region || v.start >= end) continue;
    if (v.answered && v.policy == Expected(kShapeA))
      ++a;
    else if (v.answered && v.policy == Expected(kShapeB))
      ++b;
    else
      ++other;
  }
  return std::to_string(a) + " VMAs under A, " + std::to_string(b) + " under B, " +
         std::to_string(other) + " else";
}

// A process that turns a region of its mappings from one shape to another and back without
// end: each read is Busy, or holds the region in one shape exactly, never a mix of the two.
TEST_F(VmaPolicyIterTest, AChangingProcessReadsWholeOrBusy) {
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  // How many times the child changed shapes, shared with it.
  void* shared = ::mmap(nullptr, page, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(shared, MAP_FAILED) << std::strerror(errno);
  auto* changes = new (shared) std::atomic<uint64_t>(0);
  int up[2];
  ASSERT_EQ(::pipe(up), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::close(up[0]);
    ShapeRegion r;
    auto report = [&r, &up](const char* what) {
      if (what != nullptr) {
        r.error = errno;
        std::snprintf(r.what, sizeof(r.what), "%s", what);
      }
      if (::write(up[1], &r, sizeof(r)) != sizeof(r) || what != nullptr) ::_exit(1);
    };
    char* const reserved =
        static_cast<char*>(::mmap(nullptr, (kShapePages + 2) * page, PROT_NONE,
                                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
    if (reserved == MAP_FAILED) report("mmap the reservation");
    char* const region = reserved + page;
    for (size_t k = 0; k < kShapePages; k += 2)
      if (::mmap(region + k * page, page, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
        report("mmap MAP_FIXED");
    if ((errno = Mbind(region, kShapePages * page, kShapeA)) != 0) report("mbind");
    r.start = reinterpret_cast<uint64_t>(region);
    report(nullptr);
    for (uint64_t i = 1;; ++i) {
      if (Mbind(region, kShapePages * page, i % 2 == 0 ? kShapeA : kShapeB) != 0) ::_exit(2);
      changes->store(i, std::memory_order_relaxed);
      // A pause of 0 to 350 us after each change, for some reads to find the region still.
      ::usleep(static_cast<useconds_t>(i % 8) * 50);
    }
  }
  KilledAtEnd killed{pid};
  ::close(up[1]);
  ShapeRegion region;
  const ssize_t n = ::read(up[0], &region, sizeof(region));
  ::close(up[0]);
  ASSERT_EQ(n, static_cast<ssize_t>(sizeof(region))) << "the child died setting up";
  ASSERT_EQ(region.error, 0) << region.what << ": " << std::strerror(region.error);

  constexpr int kReads = 300;
  int whole = 0, busy = 0, torn = 0;
  const uint64_t changes_before = changes->load();
  for (int i = 0; i < kReads; ++i) {
    Result<std::vector<VmaPolicy>> r = iterator_->Read(pid);
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), Status::Code::kBusy) << r.status().ToString();
      ++busy;
      continue;
    }
    ++whole;
    if (IsShape(*r, region.start, page, kShapeA) || IsShape(*r, region.start, page, kShapeB))
      continue;
    if (++torn <= 3) ADD_FAILURE() << "read " << i << ": " << Describe(*r, region.start, page);
  }
  const uint64_t changes_during = changes->load() - changes_before;
  EXPECT_EQ(torn, 0) << "of " << whole << " reads answered (" << busy << " Busy), while the child "
                     << "changed shapes " << changes_during << " times";
  EXPECT_EQ(whole + busy, kReads);
  EXPECT_GT(whole, 0) << "every read was Busy";
  EXPECT_GT(changes_during, 2u) << "the child did not change its mappings during the reads";
  ::munmap(shared, page);
}

TEST_F(VmaPolicyIterTest, AGoneProcessIsNotFound) {
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) ::_exit(0);
  // Exited, not reaped: the pid still names it, and it has no address space.
  siginfo_t info = {};
  ASSERT_EQ(::waitid(P_PID, child, &info, WEXITED | WNOWAIT), 0);
  Result<std::vector<VmaPolicy>> zombie = iterator_->Read(child);
  EXPECT_EQ(zombie.status().code(), Status::Code::kNotFound) << zombie.status().ToString();
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  Result<std::vector<VmaPolicy>> gone = iterator_->Read(child);
  EXPECT_EQ(gone.status().code(), Status::Code::kNotFound) << gone.status().ToString();
}

// The id of a live thread that is not its group's leader names no process.
TEST_F(VmaPolicyIterTest, AThreadIdIsNotAProcess) {
  pid_t thread_id = -1;
  Result<std::vector<VmaPolicy>> r = WithAnotherThreadsId([this, &thread_id](pid_t tid) {
    thread_id = tid;
    return iterator_->Read(tid);
  });
  EXPECT_NE(thread_id, ::getpid());
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument) << r.status().ToString();
  EXPECT_EQ(iterator_->Read(0).status().code(), Status::Code::kInvalidArgument);
}

// A pidfd iterator walks the mm again for a thread with a file table of its own: only the
// leader's walk is reported, so the read is in address order (not Corruption) and as
// numa_maps shows.
TEST_F(VmaPolicyIterTest, AThreadWithItsOwnFileTableIsNotWalkedAgain) {
  UnsharedFilesChild child;
  ASSERT_TRUE(child.ok());
  ASSERT_EQ(child.error(), 0) << std::strerror(child.error());
  Result<std::vector<VmaPolicy>> vmas = iterator_->Read(child.pid());
  ASSERT_TRUE(vmas.ok()) << vmas.status().ToString();
  ExpectAsNumaMaps(child.pid(), *vmas);
}

// The reader stops once it holds the leader's walk (the task record counts its VMAs): the
// walks of the other threads' copies, which would make the read fail with EAGAIN here and
// cost one walk each, are never made.
TEST_F(VmaPolicyIterTest, ThreadsWithFileTablesOfTheirOwnDoNotFailARead) {
  ManyWalksChild child;
  ASSERT_TRUE(child.ok());
  ASSERT_EQ(child.error(), 0) << std::strerror(child.error());
  Result<std::vector<VmaPolicy>> vmas = iterator_->Read(child.pid());
  ASSERT_TRUE(vmas.ok()) << vmas.status().ToString();
  EXPECT_GE(vmas->size(), static_cast<size_t>(ManyWalksChild::kVmas));
}

// A pid_fd of 0 is the kernel's "no filter" (every process walked): with fd 0 free, where
// pidfd_open returns 0, the read keeps its pidfd off 0 and reads the target alone. Run in a
// child, whose fd 0 it may close; its exit code says what went wrong.
TEST_F(VmaPolicyIterTest, APidfdOfZeroDoesNotWalkEveryProcess) {
  const pid_t target = ::getpid();  // waits below: its mappings hold still
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    Result<std::vector<VmaPolicy>> open = iterator_->Read(target);
    if (!open.ok()) ::_exit(10);
    ::close(0);
    if (::fcntl(0, F_GETFD) != -1) ::_exit(11);
    Result<std::vector<VmaPolicy>> closed = iterator_->Read(target);
    if (!closed.ok()) ::_exit(closed.status().code() == Status::Code::kCorruption ? 12 : 13);
    if (Ranges(*closed) != Ranges(*open)) ::_exit(14);
    if (::fcntl(0, F_GETFD) != -1) ::_exit(15);  // no fd of the read left at 0
    ::_exit(0);
  }
  EXPECT_EQ(ChildEnd(child), "exit 0")
      << "10: the read with fd 0 open failed; 11: fd 0 did not close; 12: the read with fd 0 "
         "free was Corruption (every process walked); 13: it failed otherwise; 14: it read "
         "other VMAs; 15: it left an fd at 0";
}

// A leader that replaces its task policy without pause, between two that differ in mode and
// in flags: each read is Busy or holds one of them exactly, never a mix of their fields.
TEST_F(VmaPolicyIterTest, ATaskPolicyChangingDuringReadsIsWholeOrBusy) {
  int up[2];
  ASSERT_EQ(::pipe(up), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::close(up[0]);
    void* anon = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    uint64_t addr = anon == MAP_FAILED ? 0 : reinterpret_cast<uint64_t>(anon);
    // One of the two policies before the first read.
    if (::syscall(SYS_set_mempolicy, MPOL_BIND, &kNode0, 8 * sizeof(kNode0)) != 0) addr = 0;
    if (::write(up[1], &addr, sizeof(addr)) != sizeof(addr)) ::_exit(1);
    for (int i = 0;; ++i) {
      const int mode = i % 2 == 0 ? MPOL_INTERLEAVE | MPOL_F_STATIC_NODES : MPOL_BIND;
      ::syscall(SYS_set_mempolicy, mode, &kNode0, 8 * sizeof(kNode0));
    }
  }
  KilledAtEnd killed{child};
  ::close(up[1]);
  uint64_t anon = 0;
  ASSERT_EQ(::read(up[0], &anon, sizeof(anon)), static_cast<ssize_t>(sizeof(anon)));
  ::close(up[0]);
  int whole = 0, busy = 0;
  constexpr int kReads = 300;
  for (int i = 0; i < kReads; ++i) {
    Result<std::vector<VmaPolicy>> r = iterator_->Read(child);
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), Status::Code::kBusy) << r.status().ToString();
      ++busy;
      continue;
    }
    ++whole;
    const VmaPolicy* v = anon == 0 ? nullptr : Containing(*r, anon);
    if (v == nullptr) {
      ADD_FAILURE() << "the child's mmap or first set_mempolicy failed, or its page is not "
                       "iterated";
      continue;
    }
    EXPECT_TRUE(v->answered);
    EXPECT_TRUE(v->policy == Expected({MPOL_INTERLEAVE, MPOL_F_STATIC_NODES, true}) ||
                v->policy == Expected({MPOL_BIND, 0, true}))
        << MempolicyToString(v->policy);
  }
  EXPECT_EQ(whole + busy, kReads);
  EXPECT_GT(whole, 0);
}

TEST_F(VmaPolicyIterTest, ReadsItsOwnProcess) {
  Result<std::vector<VmaPolicy>> self = iterator_->Read(::getpid());
  ASSERT_TRUE(self.ok()) << self.status().ToString();
  EXPECT_GT(self->size(), 3u);
}

}  // namespace
}  // namespace khod
