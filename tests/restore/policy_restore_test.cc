// How a restored file's NUMA policy comes back (restore/policy_restore.h):
// "re-applied" only when a second mapping reads it back; else handed to the
// VMM with its ranges, or not restored with the reason. Real memfds here;
// guest_memfd where /dev/kvm exists (Linux 6.18: no shared policy).
#include "restore/policy_restore.h"

#include <gtest/gtest.h>
#include <linux/mempolicy.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

#include "kernel/kvm_uapi.h"
#include "kernel/mapping.h"
#include "kernel/mempolicy.h"
#include "kernel/shared_policy_iter.h"
#include "kernel/shared_policy_probe.h"
#include "tests/support/fixture.h"
#include "tests/support/test_guest_memfd.h"

namespace khod {
namespace {

constexpr uint64_t kSize = 16 * 4096;

GuestMemfd Frozen(FileKind kind) {
  GuestMemfd g;
  g.token = 7;
  g.kind = kind;
  g.size = kSize;
  g.policy_source = PolicySource::kInode;
  g.policy.mode = MPOL_BIND;
  g.policy.nodemask = {1};  // node 0: these machines have one node
  return g;
}

// The policy a fresh mapping of `fd` reads: what outlives khod's own mappings.
Mempolicy ReadBack(int fd) {
  Result<Mapping> m = Mapping::Map(fd, 0, kSize, PROT_NONE);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  if (!m.ok()) return Mempolicy();
  Result<Mempolicy> p = GetMempolicyAt(m->data());
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  return p.ok() ? *p : Mempolicy();
}

// Read back whole from the file's shared policy where khod's BPF reader loads
// (kernel/shared_policy_iter.h), else through another mapping (one page).
bool WholeReadBack() { return LoadedSharedPolicyIterator() != nullptr; }

TEST(PolicyRestoreTest, ShmemInodePolicyIsReappliedAndReadBack) {
  const TestMemfd file(kSize, "policy");
  const int fd = file.fd();
  PolicyRestore r = RestorePolicy(fd, Frozen(FileKind::kShmemMemfd), 4096);
  EXPECT_EQ(r.outcome, PolicyRestore::Outcome::kReapplied) << r.note;
  EXPECT_EQ(r.note, WholeReadBack() ? "NUMA policy re-applied to the file and read back whole "
                                      "from its shared policy: bind nodes=0"
                                    : "NUMA policy re-applied to the file and read back through "
                                      "another mapping: bind nodes=0");
  EXPECT_EQ(ReadBack(fd).mode, MPOL_BIND);
}

// A restore sets a home node it saw and, where the BPF reader reads the file's
// shared policy, reads it back with it; it never sets one it did not see.
TEST(PolicyRestoreTest, AHomeNodeIsSetAndReadBackWhereTheTreeIsRead) {
  const TestMemfd file(kSize, "policy");
  GuestMemfd frozen = Frozen(FileKind::kShmemMemfd);
  frozen.policy.home_node = 0;
  PolicyRestore r = RestorePolicy(file.fd(), frozen, 4096);
  // Mode and nodes stand whatever the home node call answers.
  EXPECT_EQ(r.outcome, PolicyRestore::Outcome::kReapplied) << r.note;
  EXPECT_EQ(ReadBack(file.fd()).mode, MPOL_BIND);
  if (r.note.find(std::string("its home node not set: set_mempolicy_home_node 0: ") +
                  std::strerror(ENOSYS)) != std::string::npos)
    GTEST_SKIP() << "no set_mempolicy_home_node here: " << r.note;
  if (WholeReadBack())
    EXPECT_EQ(r.note,
              "NUMA policy re-applied to the file and read back whole from its shared policy: "
              "bind nodes=0 home=0");
  else
    EXPECT_NE(
        r.note.find("its home node set with set_mempolicy_home_node, which nothing reads back"),
        std::string::npos)
        << r.note;

  // A home node the kernel refuses (node 1023 is offline): the policy is re-applied, and the
  // note names the home node not set.
  const TestMemfd offline_file(kSize, "policy");
  frozen.policy.home_node = 1023;
  r = RestorePolicy(offline_file.fd(), frozen, 4096);
  EXPECT_EQ(r.outcome, PolicyRestore::Outcome::kReapplied) << r.note;
  EXPECT_NE(r.note.find("; its home node not set: set_mempolicy_home_node 1023: "),
            std::string::npos)
      << r.note;

  const TestMemfd unseen_file(kSize, "policy");
  frozen = Frozen(FileKind::kShmemMemfd);
  frozen.policy.home_node_seen = false;
  r = RestorePolicy(unseen_file.fd(), frozen, 4096);
  EXPECT_EQ(r.outcome, PolicyRestore::Outcome::kReapplied) << r.note;
  EXPECT_NE(r.note.find("; its home node, not seen at capture, not set"), std::string::npos)
      << r.note;
}

TEST(PolicyRestoreTest, GuestMemfdPolicyIsReappliedOnlyWhereItSticks) {
  Result<TestGuestMemfd> g = TestGuestMemfd::Make(kSize, uapi::kGuestMemfdFlagMmap);
  KHOD_GUEST_MEMFD_OR_SKIP(g);
  PolicyRestore r = RestorePolicy(g->fd(), Frozen(FileKind::kGuestMemfd), 4096);
  // Whatever the kernel, "re-applied" means a second mapping reads it.
  if (r.outcome == PolicyRestore::Outcome::kReapplied) {
    EXPECT_EQ(ReadBack(g->fd()).mode, MPOL_BIND);
    return;
  }
  // 6.18: mbind on khod's mapping dies with it. The VMM gets the range.
  EXPECT_NE(GuestMemfdSharedPolicy().answer, SharedPolicyAnswer::kYes);
  EXPECT_EQ(ReadBack(g->fd()).mode, MPOL_DEFAULT);
  EXPECT_EQ(r.outcome, PolicyRestore::Outcome::kHandedToVmm) << r.note;
  ASSERT_EQ(r.for_vmm.size(), 1u);
  EXPECT_EQ(r.for_vmm[0].first_index, 0u);
  EXPECT_EQ(r.for_vmm[0].count, kSize / 4096);
  EXPECT_EQ(r.for_vmm[0].policy.mode, MPOL_BIND);
  EXPECT_NE(r.note.find("handed to the VMM to mbind on its mappings"), std::string::npos) << r.note;
}

TEST(PolicyRestoreTest, UnmappableGuestMemfdSaysNotRestored) {
  Result<TestGuestMemfd> g = TestGuestMemfd::Make(kSize, 0);  // mmap: ENODEV
  KHOD_GUEST_MEMFD_OR_SKIP(g);
  PolicyRestore r = RestorePolicy(g->fd(), Frozen(FileKind::kGuestMemfd), 4096);
  EXPECT_EQ(r.outcome, PolicyRestore::Outcome::kNotRestored);
  EXPECT_EQ(r.note,
            "NUMA policy bind nodes=0 not restored: the file cannot be mapped to set it (mmap: "
            "ENODEV)");
}

// A VMM that maps its file in many mappings: those that follow each other
// with one policy are one range, and what is handed on (carried by every
// StatusReply) is bounded, the note saying what was left out.
TEST(PolicyRestoreTest, WhatIsHandedToTheVmmIsMergedAndBounded) {
  GuestMemfd g = Frozen(FileKind::kGuestMemfd);
  g.policy_source = PolicySource::kVmmMappings;
  Mempolicy bind, interleave;
  bind.mode = MPOL_BIND;
  bind.nodemask = {1};
  interleave.mode = MPOL_INTERLEAVE;
  interleave.nodemask = {1};
  // Ten mappings of one policy, one after the other: one range of 10 pages.
  for (uint64_t i = 0; i < 10; ++i)
    g.mapping_policies.push_back(MappingPolicy{i, 1, 4242, 0x7f0000000000 + i * 0x10000, bind});
  PolicyRestore r = PolicyOfAdopted(-1, g, 4096);
  ASSERT_EQ(r.for_vmm.size(), 1u);
  EXPECT_EQ(r.for_vmm[0].first_index, 0u);
  EXPECT_EQ(r.for_vmm[0].count, 10u);
  EXPECT_EQ(r.note,
            "NUMA policy handed to the VMM to mbind on its mappings (it lived in the VMM's 10 "
            "mapping(s), not in the file): pages 0-9 bind nodes=0");
  // 60,000 mappings of alternating policies (as many as vm.max_map_count lets a VMM make).
  g.mapping_policies.clear();
  for (uint64_t i = 0; i < 60000; ++i)
    g.mapping_policies.push_back(
        MappingPolicy{i, 1, 4242, 0x7f0000000000 + i * 0x10000, i % 2 ? interleave : bind});
  r = PolicyOfAdopted(-1, g, 4096);
  EXPECT_EQ(r.outcome, PolicyRestore::Outcome::kHandedToVmm);
  EXPECT_EQ(r.for_vmm.size(), 4096u);
  EXPECT_LT(r.note.size(), 1024u) << r.note;
  EXPECT_NE(r.note.find("60000 mapping(s)"), std::string::npos) << r.note;
  EXPECT_NE(r.note.find(", and 4088 more; only the first 4096 of 60000 ranges are handed on"),
            std::string::npos)
      << r.note;
}

TEST(PolicyRestoreTest, VmmMappingPoliciesAreHandedToTheVmm) {
  // numa_maps of a 6.18 VMM: "... bind:0 file=anon_inode:[kvm-gmem]" over pages 0-7, a second
  // mapping "default" over 8-15.
  GuestMemfd g = Frozen(FileKind::kGuestMemfd);
  g.policy_source = PolicySource::kVmmMappings;
  g.policy = Mempolicy();
  Mempolicy bind;
  bind.mode = MPOL_BIND;
  bind.nodemask = {1};
  g.mapping_policies = {MappingPolicy{0, 8, 4242, 0x7f118de1e000, bind},
                        MappingPolicy{8, 8, 4242, 0x7f118e000000, Mempolicy()}};
  for (const PolicyRestore& r : {RestorePolicy(-1, g, 4096), PolicyOfAdopted(-1, g, 4096)}) {
    EXPECT_EQ(r.outcome, PolicyRestore::Outcome::kHandedToVmm);
    ASSERT_EQ(r.for_vmm.size(), 1u);
    EXPECT_EQ(r.for_vmm[0].count, 8u);
    EXPECT_EQ(r.note,
              "NUMA policy handed to the VMM to mbind on its mappings (it lived in the VMM's 1 "
              "mapping(s), not in the file): pages 0-7 bind nodes=0");
  }
  g.policy_source = PolicySource::kUnknown;
  EXPECT_EQ(RestorePolicy(-1, g, 4096).outcome, PolicyRestore::Outcome::kNotRestored);
  // An inode policy with no file to read it back from is not said to be kept.
  EXPECT_NE(PolicyOfAdopted(-1, Frozen(FileKind::kShmemMemfd), 4096).outcome,
            PolicyRestore::Outcome::kKept);
  EXPECT_EQ(RestorePolicy(-1, GuestMemfd(), 4096).outcome, PolicyRestore::Outcome::kNothing);
}

// Sets `mode` over node 0 on every page of `fd` (kSize bytes), through a mapping of its own:
// a shmem file keeps it as its shared policy.
void Mbind(int fd, int32_t mode, uint64_t first_page = 0, uint64_t pages = kSize / 4096) {
  Result<Mapping> m = Mapping::Map(fd, 0, kSize, PROT_NONE);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  Mempolicy p;
  p.mode = mode;
  p.nodemask = {1};
  Status s = SetMempolicy(m->data() + first_page * 4096, pages * 4096, p);
  ASSERT_TRUE(s.ok()) << s.ToString();
}

// An adopted file's policy is the file's own, which anyone holding it may have changed since
// the frozen capture (a VMM that mbinds it interleave after the reexec): "kept" only as read
// back whole, else what it now reads, never the frozen policy as if it were read.
TEST(PolicyRestoreTest, AnAdoptedShmemFileIsSaidKeptOnlyAsItReadsBack) {
  std::string why_not;
  if (LoadedSharedPolicyIterator(&why_not) == nullptr)
    GTEST_SKIP() << "the shared-policy BPF program cannot load here: " << why_not;
  const GuestMemfd frozen = Frozen(FileKind::kShmemMemfd);  // bind nodes=0
  const TestMemfd file(kSize, "policy");
  Mbind(file.fd(), MPOL_BIND);
  PolicyRestore r = PolicyOfAdopted(file.fd(), frozen, 4096);
  EXPECT_EQ(r.outcome, PolicyRestore::Outcome::kKept) << r.note;
  EXPECT_EQ(r.note, "NUMA policy kept by the adopted file (read back: bind nodes=0)");

  // Changed after the frozen capture, over the whole file.
  Mbind(file.fd(), MPOL_INTERLEAVE);
  r = PolicyOfAdopted(file.fd(), frozen, 4096);
  EXPECT_EQ(r.outcome, PolicyRestore::Outcome::kNotRestored) << r.note;
  EXPECT_EQ(r.note.find("kept"), std::string::npos) << r.note;
  EXPECT_EQ(r.note,
            "NUMA policy of the adopted file now reads interleave nodes=0, the frozen file had "
            "bind nodes=0: Verify compares it");

  // Changed over part of it: no one policy, and what it holds named.
  Mbind(file.fd(), MPOL_BIND, 0, 8);
  r = PolicyOfAdopted(file.fd(), frozen, 4096);
  EXPECT_EQ(r.outcome, PolicyRestore::Outcome::kNotRestored) << r.note;
  EXPECT_EQ(r.note.find("kept"), std::string::npos) << r.note;
  EXPECT_NE(r.note.find("NUMA policy of the adopted file not read back as one policy (its pages "
                        "do not all have one policy"),
            std::string::npos)
      << r.note;
  EXPECT_NE(r.note.find("interleave nodes=0"), std::string::npos) << r.note;

  // Never mbound since (its policy reset): it reads default.
  const TestMemfd reset(kSize, "policy");
  r = PolicyOfAdopted(reset.fd(), frozen, 4096);
  EXPECT_EQ(r.outcome, PolicyRestore::Outcome::kNotRestored) << r.note;
  EXPECT_EQ(r.note,
            "NUMA policy of the adopted file now reads default, the frozen file had bind "
            "nodes=0: Verify compares it");
}

// A Restore reads the shared policies of every file khod holds once (inside the blackout),
// and each adopted file is answered from that read: its own policy, never another file's; a
// file the read did not see (opened after it) is read on its own.
TEST(PolicyRestoreTest, OneReadAnswersEveryAdoptedFileWithItsOwnPolicy) {
  std::string why_not;
  if (LoadedSharedPolicyIterator(&why_not) == nullptr)
    GTEST_SKIP() << "the shared-policy BPF program cannot load here: " << why_not;
  const GuestMemfd frozen = Frozen(FileKind::kShmemMemfd);  // bind nodes=0
  const TestMemfd bound(kSize, "policy"), interleaved(kSize, "policy");
  Mbind(bound.fd(), MPOL_BIND);
  Mbind(interleaved.fd(), MPOL_INTERLEAVE);
  SharedPolicyCache round;
  PolicyRestore r = PolicyOfAdopted(bound.fd(), frozen, 4096, &round);
  EXPECT_EQ(r.note, "NUMA policy kept by the adopted file (read back: bind nodes=0)");
  r = PolicyOfAdopted(interleaved.fd(), frozen, 4096, &round);
  EXPECT_NE(r.note.find("now reads interleave nodes=0"), std::string::npos) << r.note;
  const TestMemfd later(kSize, "policy");
  Mbind(later.fd(), MPOL_BIND);
  r = PolicyOfAdopted(later.fd(), frozen, 4096, &round);
  EXPECT_EQ(r.note, "NUMA policy kept by the adopted file (read back: bind nodes=0)");
}

// Where the adopted file's policy cannot be read back (a kind whose shared policy khod does
// not read, no file), no policy is named: it is the file's own, and Verify compares it.
TEST(PolicyRestoreTest, AnAdoptedFilesPolicyNotReadBackIsNotNamed) {
  const TestMemfd file(kSize, "policy");
  Mbind(file.fd(), MPOL_BIND);
  GuestMemfd frozen = Frozen(FileKind::kGuestMemfd);  // a 6.19 guest_memfd's own policy
  const std::string unread =
      "NUMA policy not re-applied: the adopted file keeps its own; Verify compares it (its "
      "shared policy not read back: ";
  for (const PolicyRestore& r : {PolicyOfAdopted(file.fd(), frozen, 4096),
                                 PolicyOfAdopted(-1, Frozen(FileKind::kShmemMemfd), 4096)}) {
    EXPECT_EQ(r.outcome, PolicyRestore::Outcome::kNotRestored) << r.note;
    EXPECT_EQ(r.note.rfind(unread, 0), 0u) << r.note;
    EXPECT_EQ(r.note.find("bind"), std::string::npos) << r.note;
    EXPECT_EQ(r.note.find("kept"), std::string::npos) << r.note;
  }
}

// One guest-RAM mapping that an mprotect of its middle split into 3 VMAs (one process,
// contiguous in the file and in its address space, one policy) is one mapping, as Verify
// counts it.
TEST(PolicyRestoreTest, AMappingSplitInThreeVmasIsCountedOnce) {
  GuestMemfd g = Frozen(FileKind::kGuestMemfd);
  g.policy_source = PolicySource::kVmmMappings;
  g.policy = Mempolicy();
  Mempolicy bind;
  bind.mode = MPOL_BIND;
  bind.nodemask = {1};
  constexpr uint64_t kAt = 0x7f118de1e000;
  g.mapping_policies = {MappingPolicy{0, 4, 4242, kAt, bind},
                        MappingPolicy{4, 8, 4242, kAt + 4 * 4096, bind},
                        MappingPolicy{12, 4, 4242, kAt + 12 * 4096, bind}};
  for (const PolicyRestore& r : {RestorePolicy(-1, g, 4096), PolicyOfAdopted(-1, g, 4096)}) {
    EXPECT_EQ(r.outcome, PolicyRestore::Outcome::kHandedToVmm);
    EXPECT_EQ(r.note,
              "NUMA policy handed to the VMM to mbind on its mappings (it lived in the VMM's 1 "
              "mapping(s), not in the file): pages 0-15 bind nodes=0");
  }
}

}  // namespace
}  // namespace khod
