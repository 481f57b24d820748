// daemon/gmem_ownership.h: who may act on a gmem and on the whole session.
#include "daemon/gmem_ownership.h"

#include <gtest/gtest.h>

#include <string>

namespace khod {
namespace {

PeerCred Uid(uid_t uid) {
  PeerCred c;
  c.uid = uid;
  c.gid = uid;
  return c;
}

v1::GmemAttachment Gmem(uint64_t token, const char* name) {
  v1::GmemAttachment g;
  g.set_token(token);
  g.set_name(name);
  return g;
}

v1::GmemAttachment OwnedBy(uint64_t token, const char* name, uint32_t uid) {
  v1::GmemAttachment g = Gmem(token, name);
  g.set_owner_uid(uid);
  return g;
}

bool Has(const Status& s, const std::string& text) {
  return s.message().find(text) != std::string::npos;
}

TEST(GmemOwnershipTest, TheCallerThatAttachedAGmemAndRootActOnIt) {
  const v1::GmemAttachment g = OwnedBy(7, "vm-a", 1000);
  EXPECT_TRUE(CheckOwnsGmem(Uid(1000), g, "Detach").ok());
  EXPECT_TRUE(CheckOwnsGmem(Uid(0), g, "Detach").ok());
  const Status s = CheckOwnsGmem(Uid(1001), g, "Detach");
  EXPECT_EQ(s.code(), Status::Code::kPermissionDenied);
  EXPECT_TRUE(
      Has(s, "Detach: caller uid 1001 may not act on gmem 7 ('vm-a'), attached by uid 1000"))
      << s.message();
}

TEST(GmemOwnershipTest, AGmemRecordedWithoutAnOwnerIsRoots) {
  const v1::GmemAttachment old = Gmem(3, "from-an-older-khod");
  EXPECT_TRUE(CheckOwnsGmem(Uid(0), old, "Prepare").ok());
  const Status s = CheckOwnsGmem(Uid(1000), old, "Prepare");
  EXPECT_EQ(s.code(), Status::Code::kPermissionDenied);
  EXPECT_TRUE(Has(s, "attached by root (recorded without an owner)")) << s.message();
  // Recorded as root's (uid 0 present) is root's too.
  EXPECT_FALSE(CheckOwnsGmem(Uid(1000), OwnedBy(4, "root", 0), "Prepare").ok());
}

TEST(GmemOwnershipTest, TheWholeSessionOnlyWhenEveryGmemIsTheCallers) {
  v1::SessionRecord r;
  EXPECT_TRUE(CheckOwnsSession(Uid(1000), r, "Cancel").ok());  // nothing to act on
  *r.add_gmems() = OwnedBy(1, "a", 1000);
  *r.add_gmems() = OwnedBy(2, "b", 1000);
  EXPECT_TRUE(CheckOwnsSession(Uid(1000), r, "Freeze").ok());
  EXPECT_FALSE(CheckOwnsSession(Uid(1001), r, "Freeze").ok());
  *r.add_gmems() = OwnedBy(3, "c", 0);
  const Status s = CheckOwnsSession(Uid(1000), r, "Freeze");
  EXPECT_EQ(s.code(), Status::Code::kPermissionDenied);
  EXPECT_TRUE(Has(s, "may not act on gmem 3 ('c'), attached by uid 0")) << s.message();
  EXPECT_TRUE(Has(s, "acts on the whole session only when it attached every gmem")) << s.message();
  EXPECT_TRUE(CheckOwnsSession(Uid(0), r, "Freeze").ok());
}

TEST(GmemOwnershipTest, AVmOnlyWhenEveryGmemBoundToItIsTheCallers) {
  v1::SessionRecord r;
  EXPECT_TRUE(CheckOwnsVm(Uid(1000), r, 9, "Attach").ok());  // not declared yet: the caller's
  v1::GmemAttachment mine = OwnedBy(1, "mine", 1000);
  mine.set_vm_token(9);
  *r.add_gmems() = mine;
  EXPECT_TRUE(CheckOwnsVm(Uid(1000), r, 9, "Attach").ok());
  // Root's gmem, bound to VM 9 through a memslot of the VM's record only.
  *r.add_gmems() = OwnedBy(2, "roots", 0);
  v1::VmRecord* vm = r.add_vms();
  vm->set_token(9);
  vm->set_vm_type(5);
  vm->add_memslots()->set_slot(3);
  vm->add_memslot_gmem(2);
  const Status s = CheckOwnsVm(Uid(1000), r, 9, "Attach");
  EXPECT_EQ(s.code(), Status::Code::kPermissionDenied);
  EXPECT_TRUE(Has(s, "Attach: caller uid 1000 may not act on VM 9: gmem 2 bound to it"))
      << s.message();
  // Nothing of the VM's layout is named.
  EXPECT_FALSE(Has(s, "type")) << s.message();
  EXPECT_FALSE(Has(s, "slot")) << s.message();
  EXPECT_TRUE(CheckOwnsVm(Uid(0), r, 9, "Attach").ok());
  // Another VM is not this one.
  EXPECT_TRUE(CheckOwnsVm(Uid(1000), r, 10, "Attach").ok());
}

// A session is one uid's: while it holds gmems only that uid attaches more,
// root included; a record of an older khod holding several owners' gmems
// takes no Attach until it ends.
TEST(GmemOwnershipTest, OnlyTheSessionsOwnerAttachesToIt) {
  v1::SessionRecord r;
  EXPECT_TRUE(CheckMayAttach(Uid(1000), r).ok());  // no gmem: no owner yet
  EXPECT_TRUE(CheckMayAttach(Uid(0), r).ok());
  *r.add_gmems() = OwnedBy(1, "a", 1000);
  EXPECT_TRUE(CheckMayAttach(Uid(1000), r).ok());
  Status s = CheckMayAttach(Uid(0), r);
  EXPECT_EQ(s.code(), Status::Code::kPermissionDenied);
  EXPECT_TRUE(Has(s,
                  "Attach: caller uid 0 may not attach to this session: it is owned by uid "
                  "1000, whose 1 gmems it holds"))
      << s.message();
  EXPECT_TRUE(Has(s, "root may Cancel it and Detach its gmems")) << s.message();
  EXPECT_EQ(CheckMayAttach(Uid(1001), r).code(), Status::Code::kPermissionDenied);
  // Recorded without an owner: root's session.
  v1::SessionRecord old;
  *old.add_gmems() = Gmem(3, "from-an-older-khod");
  EXPECT_TRUE(CheckMayAttach(Uid(0), old).ok());
  s = CheckMayAttach(Uid(1000), old);
  EXPECT_EQ(s.code(), Status::Code::kPermissionDenied);
  EXPECT_TRUE(Has(s, "owned by uid 0 (root)")) << s.message();
  // Several owners: no one's.
  *old.add_gmems() = OwnedBy(4, "b", 1000);
  s = CheckMayAttach(Uid(0), old);
  EXPECT_EQ(s.code(), Status::Code::kPermissionDenied);
  EXPECT_TRUE(Has(s, "owned by uid 0 (root) and uid 1000 (a record of a khod before"))
      << s.message();
  EXPECT_EQ(CheckMayAttach(Uid(1000), old).code(), Status::Code::kPermissionDenied);
}

}  // namespace
}  // namespace khod
