// capture/snapshot_assembly.h: the one snapshot assembly, against fake sources.
#include "capture/snapshot_assembly.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "capture/snapshot_header.h"
#include "common/status_macros.h"
#include "kernel/file_mappings.h"

namespace khod {
namespace {

class NamedSource : public GmemSource {
 public:
  NamedSource(uint64_t token, Status result = Status::Ok()) : token_(token), result_(result) {}
  std::string Describe() const override { return "named"; }
  Status Capture(const CaptureOptions& opts, GuestMemfd* out) override {
    hashed = opts.hash_contents;
    if (!result_.ok()) return result_;
    out->token = token_;
    out->name = "source's name";
    out->vm_token = 99;
    out->size = 4096;
    return Status::Ok();
  }
  bool hashed = false;

 private:
  uint64_t token_;
  Status result_;
};

TEST(AssembleSnapshotTest, OneHeaderEachPartInOrderUnderItsIdentityAndTheVms) {
  NamedSource a(11), b(12);
  std::vector<SnapshotPart> parts(2);
  parts[0].source = &a;
  parts[0].options.hash_contents = true;
  parts[0].identity = GmemIdentity{1, "vm0-ram", 7};
  parts[1].source = &b;  // keeps the source's own identity
  Vm vm;
  vm.token = 7;
  Result<Snapshot> snap = AssembleSnapshot(parts, {vm});
  ASSERT_TRUE(snap.ok()) << snap.status().ToString();
  EXPECT_EQ(snap->header.producer, kProducer);
  EXPECT_GT(snap->header.page_size, 0u);
  EXPECT_GT(snap->header.capture_time_ns, 0u);
  ASSERT_EQ(snap->gmems.size(), 2u);
  EXPECT_EQ(snap->gmems[0].token, 1u);
  EXPECT_EQ(snap->gmems[0].name, "vm0-ram");
  EXPECT_EQ(snap->gmems[0].vm_token, 7u);
  EXPECT_EQ(snap->gmems[1].token, 12u);
  EXPECT_EQ(snap->gmems[1].name, "source's name");
  EXPECT_TRUE(a.hashed);
  EXPECT_FALSE(b.hashed);
  ASSERT_EQ(snap->vms.size(), 1u);
  EXPECT_EQ(snap->vms[0].token, 7u);
}

TEST(AssembleSnapshotTest, ACaptureErrorIsReturnedWithThePartsContext) {
  NamedSource ok(1), bad(2, Status::IoError("pagemap read failed"));
  std::vector<SnapshotPart> parts(2);
  parts[0].source = &ok;
  parts[1].source = &bad;
  parts[1].what = "capture gmem 2";
  Result<Snapshot> snap = AssembleSnapshot(parts, {});
  ASSERT_FALSE(snap.ok());
  EXPECT_EQ(snap.status().code(), Status::Code::kIoError);
  EXPECT_NE(snap.status().ToString().find("capture gmem 2"), std::string::npos)
      << snap.status().ToString();
  EXPECT_NE(snap.status().ToString().find("pagemap read failed"), std::string::npos);
  parts[1].what.clear();
  EXPECT_EQ(AssembleSnapshot(parts, {}).status().message(), "pagemap read failed");
}

// A source whose capture runs `during` (on the capturing thread) first.
class HookSource : public GmemSource {
 public:
  HookSource(uint64_t token, std::function<Status()> during) : token_(token), during_(during) {}
  std::string Describe() const override { return "hook"; }
  Status Capture(const CaptureOptions& opts, GuestMemfd* out) override {
    captured = true;
    KHOD_RETURN_IF_ERROR(during_());
    out->token = token_;
    if (opts.stats) {
      opts.stats->flags_read += token_;
      opts.stats->flags_carried += 10 * token_;
    }
    if (opts.progress) opts.progress(token_, token_);
    return Status::Ok();
  }
  std::atomic<bool> captured{false};

 private:
  uint64_t token_;
  std::function<Status()> during_;
};

// Waits (up to seconds) until `n` captures have entered: only captures
// running at once get there.
std::function<Status()> Rendezvous(std::atomic<int>* entered, int n) {
  return [entered, n]() -> Status {
    ++*entered;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (*entered < n)
      if (std::chrono::steady_clock::now() > deadline)
        return Status::Internal("the other capture never ran at the same time");
      else
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return Status::Ok();
  };
}

TEST(AssembleSnapshotTest, PartsAreCapturedByTheThreadsGivenAtOnceInTheirOrder) {
  std::atomic<int> entered{0};
  HookSource a(1, Rendezvous(&entered, 2)), b(2, Rendezvous(&entered, 2));
  CaptureStats stats;
  int progress_calls = 0;  // never called by two threads at once: no race
  std::vector<SnapshotPart> parts(2);
  parts[0].source = &a;
  parts[1].source = &b;
  for (SnapshotPart& p : parts) {
    p.options.stats = &stats;
    p.options.progress = [&](uint64_t, uint64_t) { ++progress_calls; };
  }
  Result<Snapshot> snap = AssembleSnapshot(parts, {}, /*threads=*/2);
  ASSERT_TRUE(snap.ok()) << snap.status().ToString();
  ASSERT_EQ(snap->gmems.size(), 2u);
  EXPECT_EQ(snap->gmems[0].token, 1u);
  EXPECT_EQ(snap->gmems[1].token, 2u);
  EXPECT_EQ(stats.flags_read, 3u);  // each part's, summed
  EXPECT_EQ(stats.flags_carried, 30u);
  EXPECT_EQ(progress_calls, 2);
}

TEST(AssembleSnapshotTest, TheFirstFailedPartInOrderIsReturnedAndLaterOnesAreLeft) {
  // Part 0 fails after part 1 has failed: part 0's error is the one returned.
  std::atomic<bool> second_failed{false};
  HookSource slow(1,
                  [&]() -> Status {
                    while (!second_failed)
                      std::this_thread::sleep_for(std::chrono::milliseconds(1));
                    return Status::IoError("first part");
                  }),
      fast(2, [&]() -> Status {
        second_failed = true;
        return Status::IoError("second part");
      });
  std::vector<SnapshotPart> parts(2);
  parts[0].source = &slow;
  parts[1].source = &fast;
  EXPECT_EQ(AssembleSnapshot(parts, {}, 2).status().message(), "first part");
  // One thread: a failed part ends the round, as before.
  HookSource bad(1, [] { return Status::IoError("bad"); }), never(2, [] { return Status::Ok(); });
  parts[0].source = &bad;
  parts[1].source = &never;
  EXPECT_EQ(AssembleSnapshot(parts, {}, 1).status().message(), "bad");
  EXPECT_FALSE(never.captured);
}

// A source of VMM `pid` that notes the order captures began in.
class VmmSource : public GmemSource {
 public:
  VmmSource(uint64_t token, int pid, std::vector<uint64_t>* began)
      : token_(token), pid_(pid), began_(began) {}
  std::string Describe() const override { return "vmm"; }
  int mappings_pid() const override { return pid_; }
  Status Capture(const CaptureOptions&, GuestMemfd* out) override {
    began_->push_back(token_);  // one thread: no race
    out->token = token_;
    return Status::Ok();
  }

 private:
  uint64_t token_;
  int pid_;
  std::vector<uint64_t>* began_;
};

// A VMM's files share the read of its mappings: the round takes one file of
// each VMM before a second of any, so that threads read different VMMs' at
// once instead of waiting for the one reading them. The snapshot keeps the
// parts' order.
TEST(AssembleSnapshotTest, OneFileOfEachVmmIsTakenBeforeASecondOfAny) {
  std::vector<uint64_t> began;
  VmmSource a1(1, 100, &began), a2(2, 100, &began), a3(3, 100, &began), b1(4, 200, &began),
      none(5, 0, &began), b2(6, 200, &began);
  std::vector<SnapshotPart> parts(6);
  GmemSource* sources[] = {&a1, &a2, &a3, &b1, &none, &b2};
  for (size_t i = 0; i < parts.size(); ++i) parts[i].source = sources[i];
  Result<Snapshot> snap = AssembleSnapshot(parts, {}, /*threads=*/1);
  ASSERT_TRUE(snap.ok()) << snap.status().ToString();
  EXPECT_EQ(began, (std::vector<uint64_t>{1, 4, 5, 2, 6, 3}));
  ASSERT_EQ(snap->gmems.size(), 6u);
  for (size_t i = 0; i < parts.size(); ++i) EXPECT_EQ(snap->gmems[i].token, i < 5 ? i + 1 : 6u);
}

// A file this test process maps, as a VMM maps its guest memory: each
// source reads the "VMM"'s mappings through the round's cache, as a
// guest_memfd without a shared policy does (capture/kernel_source.cc).
class VmmMappedSource : public GmemSource {
 public:
  explicit VmmMappedSource(FileKey key) : key_(key) {}
  std::string Describe() const override { return "vmm-mapped"; }
  int mappings_pid() const override { return ::getpid(); }
  Status Capture(const CaptureOptions& opts, GuestMemfd* out) override {
    if (!opts.vmm_mappings) return Status::Internal("no round cache");
    KHOD_ASSIGN_OR_RETURN(std::vector<FileMapping> maps,
                          opts.vmm_mappings->Get(::getpid(), key_, kPage));
    if (maps.size() != 1) return Status::Internal(std::to_string(maps.size()) + " mappings");
    out->size = kPage;
    return Status::Ok();
  }
  static constexpr uint64_t kPage = 4096;

 private:
  FileKey key_;
};

// The round reads a VMM's mappings once, however many of its files it has,
// and says how (its VMAs, or numa_maps) once to each CaptureStats its parts
// name: what a Freeze or Verify reports of its VMM policy reads.
TEST(AssembleSnapshotTest, TheRoundsVmmPolicyReadsAreAddedOnceToEachStats) {
  const std::string path = ::testing::TempDir() + "/assembly-vmm-file";
  ::unlink(path.c_str());
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, VmmMappedSource::kPage), 0);
  void* m = ::mmap(nullptr, VmmMappedSource::kPage, PROT_READ, MAP_PRIVATE, fd, 0);
  ASSERT_NE(m, MAP_FAILED);
  struct stat st;
  ASSERT_EQ(::fstat(fd, &st), 0);
  const FileKey key{st.st_dev, st.st_ino};
  // What one read of these mappings takes here: the iterator, where it loads
  // and answers for this file's mapping; numa_maps otherwise.
  ProcessMappingsCache reference;
  ASSERT_TRUE(reference.Get(::getpid(), key, VmmMappedSource::kPage).ok());
  ASSERT_EQ(reference.processes_from_vmas_only() + reference.processes_through_numa_maps(), 1);

  VmmMappedSource a(key), b(key), c(key);
  CaptureStats shared, own;
  std::vector<SnapshotPart> parts(3);
  parts[0].source = &a;
  parts[0].options.stats = &shared;
  parts[1].source = &b;
  parts[1].options.stats = &shared;
  parts[2].source = &c;
  parts[2].options.stats = &own;
  Result<Snapshot> snap = AssembleSnapshot(parts, {}, /*threads=*/2);
  ::munmap(m, VmmMappedSource::kPage);
  ::close(fd);
  ::unlink(path.c_str());
  ASSERT_TRUE(snap.ok()) << snap.status().ToString();
  for (const CaptureStats* stats : {&shared, &own}) {
    EXPECT_EQ(stats->vmm_policies_from_vmas,
              static_cast<uint64_t>(reference.processes_from_vmas_only()));
    EXPECT_EQ(stats->vmm_policies_from_numa_maps,
              static_cast<uint64_t>(reference.processes_through_numa_maps()));
  }
}

}  // namespace
}  // namespace khod
