// A Verify reply's verdict in one string a test compares whole: "EQUAL",
// "DIFFERENT", or "NOT VERIFIED: UNVERIFIED_PFNS_UNSEEN, ..." with the kinds
// of what was not verified, each once, in the enum's order (any reply with an
// unverified part names its kinds, whatever its verdict). An empty
// `differences` alone cannot tell EQUAL from NOT VERIFIED (proto/khod.proto
// VerifyReply): a capture that observed nothing would pass for equal.
#ifndef KHOD_TESTS_DAEMON_VERIFY_VERDICT_H_
#define KHOD_TESTS_DAEMON_VERIFY_VERDICT_H_

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <set>
#include <string>

#include "kernel/pagemap.h"
#include "kernel/shared_policy_probe.h"
#include "proto/khod.pb.h"

namespace khod {

// `kinds` as VerdictAndKinds names them: "EQUAL" with none, else "NOT VERIFIED: ...".
inline std::string NotVerifiedNaming(const std::set<int>& kinds) {
  if (kinds.empty()) return "EQUAL";
  std::string out = "NOT VERIFIED";
  const char* sep = ": ";
  for (int k : kinds) {
    out += sep + (v1::UnverifiedKind_IsValid(k)
                      ? v1::UnverifiedKind_Name(static_cast<v1::UnverifiedKind>(k))
                      : "kind " + std::to_string(k));
    sep = ", ";
  }
  return out;
}

inline std::string VerdictAndKinds(const v1::VerifyReply& r) {
  std::set<int> kinds;
  for (const v1::UnverifiedGmem& u : r.unverified()) {
    for (int k : u.kinds()) kinds.insert(k);
    if (u.kinds_size() < u.parts_size()) kinds.insert(v1::UNVERIFIED_KIND_UNSPECIFIED);
  }
  const std::string named = NotVerifiedNaming(kinds);
  const size_t colon = named.find(':');
  return r.verdict() + (colon == std::string::npos ? "" : named.substr(colon));
}

// A reply's first difference, for a message ("none" where it lists none).
inline std::string FirstDifferenceOf(const v1::VerifyReply& r) {
  if (r.differences_size() == 0) return "none";
  const v1::Difference& d = r.differences(0);
  return "gmem " + std::to_string(d.token()) + " " + d.field() + " " + d.where() + ": expected " +
         d.expected() + ", found " + d.found();
}

// Whether pagemap shows this process PFNs (CAP_SYS_ADMIN in the initial user
// namespace: root outside bazel's sandbox), and so a khod it starts, or a
// Session in it: a page of its own touched and its PFN read back.
inline bool PfnsShownToThisProcess() {
  Result<PageFrameReader> reader = PageFrameReader::Open();
  if (!reader.ok()) return false;
  const size_t page = static_cast<size_t>(::getpagesize());
  void* p = ::mmap(nullptr, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return false;
  static_cast<volatile char*>(p)[0] = 1;
  uint64_t e = 0;
  const bool shown = reader->ReadPagemap(p, 1, &e).ok() && PagemapPresent(e) && PagemapPfn(e);
  ::munmap(p, page);
  return shown;
}

// Whether the session's captures hashed the contents (Attach's hash_contents).
enum class Contents { kNotHashed, kHashed };

// The verdict on kernel memory with resident pages (a shmem memfd) that
// nothing changed, verified for root: EQUAL, but for the parts in `kinds`
// (what the test declared and no one can observe); where pagemap hides PFNs
// (the sandbox's user namespace) neither capture saw the resident pages'
// PFNs, and where it shows them, contents not hashed were not compared.
inline std::string UnchangedMemfdVerdict(std::set<int> kinds = {},
                                         Contents contents = Contents::kNotHashed) {
  if (!PfnsShownToThisProcess())
    kinds.insert(v1::UNVERIFIED_PFNS_UNSEEN);
  else if (contents == Contents::kNotHashed)
    kinds.insert(v1::UNVERIFIED_CONTENTS_NOT_HASHED);
  return NotVerifiedNaming(kinds);
}

// The same for SessionTest's KernelAttach (tests/support/session_fixture.h):
// it declares a memslot, the VMM's declaration, which KVM lists to no one,
// and hashes the contents unless the test asked otherwise.
inline std::string UnchangedKernelAttachVerdict(Contents contents = Contents::kHashed) {
  return UnchangedMemfdVerdict({v1::UNVERIFIED_DECLARED_MEMSLOTS}, contents);
}

// The same for a guest_memfd: where it has no policy of its own (Linux 6.18)
// where its new pages go is not verified; where it has one (6.19), khod does
// not walk it, so its policy is not read.
inline std::string UnchangedGuestMemfdAttachVerdict() {
  const bool own_policy = SharedPolicyOf(FileKind::kGuestMemfd).answer != SharedPolicyAnswer::kNo;
  return UnchangedMemfdVerdict(
      {v1::UNVERIFIED_DECLARED_MEMSLOTS, own_policy ? v1::UNVERIFIED_NUMA_POLICY_UNREAD
                                                    : v1::UNVERIFIED_NUMA_PLACEMENT_BY_ALLOCATOR});
}

}  // namespace khod

#endif  // KHOD_TESTS_DAEMON_VERIFY_VERDICT_H_
