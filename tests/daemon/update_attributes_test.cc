// UpdateAttributes re-makes a held file's capture source around the new
// declaration: what the old source knew of the file stays, among it the VMM
// whose mappings hold a guest_memfd's NUMA policy on a kernel without a
// shared one (capture/kernel_source.h, CapturePolicy). Re-made with no VMM,
// every later capture read that policy as unknown, and Restore had none to
// hand back.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <vector>

#include "daemon/session.h"
#include "daemon/system_opener.h"
#include "tests/support/session_fixture.h"

namespace khod {
namespace {

// A SystemOpener that notes the declaration each Adopt is given.
class NotingOpener : public SystemOpener {
 public:
  Result<std::unique_ptr<GmemHandle>> Adopt(const GmemDeclaration& decl, int fd) override {
    adopted.push_back(decl);
    return SystemOpener::Adopt(decl, fd);
  }
  std::vector<GmemDeclaration> adopted;
};

class UpdateAttributesTest : public SessionTest {};

TEST_F(UpdateAttributesTest, TheRemadeSourceReadsThePolicyFromTheSameVmm) {
  NotingOpener opener;
  Result<std::unique_ptr<Session>> s = Session::Open(Opts(), &opener);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  Result<v1::GmemInfo> g = (*s)->Attach(KernelAttach(memfd_));
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  v1::UpdateAttributesRequest u;
  u.set_token(g->token());
  auto* r = u.add_ranges();
  r->set_first(0);
  r->set_count(16);
  r->set_value(8);  // KVM_MEMORY_ATTRIBUTE_PRIVATE
  ASSERT_TRUE((*s)->UpdateAttributes(u, PeerCred{}).ok());
  ASSERT_EQ(opener.adopted.size(), 1u);
  EXPECT_EQ(opener.adopted[0].mappings_pid, ::getpid()) << "the VMM it was taken from";
  EXPECT_EQ(opener.adopted[0].attributes.Get(3), 8u);
  // And the source so made says so.
  Result<std::unique_ptr<GmemHandle>> h =
      opener.SystemOpener::Adopt(opener.adopted[0], ::fcntl(memfd_, F_DUPFD_CLOEXEC, 3));
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ((*h)->source->mappings_pid(), ::getpid());
}

}  // namespace
}  // namespace khod
