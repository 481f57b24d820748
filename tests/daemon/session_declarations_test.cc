// CheckDeclared (daemon/session_declarations.h) on a session's record as a whole: the caps of
// docs/SECURITY.md "What a request may hold" hold summed over the calls that add to a session
// (each Attach adds a gmem and its memslots, each UpdateAttributes ranges), not only per
// request: at most 1024 gmems, 4096 memslots a VM and 65536 attribute ranges a gmem, each
// refused by name; and over the whole session at most 131072 attribute ranges, 16384
// memslots and a record of 3 MiB, each refused as RESOURCE_EXHAUSTED.
#include "daemon/session_declarations.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "daemon/request_limits.h"

namespace khod {
namespace {

constexpr uint64_t kPage = 4096;

v1::GmemAttachment* AddGmem(v1::SessionRecord* r, uint64_t token,
                            std::map<uint64_t, uint64_t>* sizes) {
  v1::GmemAttachment* g = r->add_gmems();
  g->set_token(token);
  g->set_name("guest" + std::to_string(token));
  g->set_kind("shmem-memfd");
  (*sizes)[token] = 64 * kPage;
  return g;
}

// VM `token` with `n` one-page memslots over gmem `gmem`, one after another.
void AddVm(v1::SessionRecord* r, uint64_t token, uint64_t gmem, size_t n) {
  v1::VmRecord* vm = r->add_vms();
  vm->set_token(token);
  for (size_t i = 0; i < n; ++i) {
    v1::Memslot* m = vm->add_memslots();
    m->set_slot(static_cast<uint32_t>(i));
    m->set_npages(1);
    m->set_base_gfn(i);
    m->set_gmem_offset(i * kPage);
    m->set_flags(4);
    vm->add_memslot_gmem(gmem);
  }
}

TEST(CheckDeclaredTest, ARecordWithinTheCapsPasses) {
  v1::SessionRecord r;
  std::map<uint64_t, uint64_t> sizes;
  v1::GmemAttachment* g = AddGmem(&r, 1, &sizes);
  v1::AttributeRange* a = g->add_attributes();
  a->set_first(0);
  a->set_count(4);
  a->set_value(8);
  const Status s = CheckDeclared(r, sizes, "Attach");
  EXPECT_TRUE(s.ok()) << s.ToString();
}

TEST(CheckDeclaredTest, MoreGmemsThanASessionHoldsAreRefused) {
  v1::SessionRecord r;
  std::map<uint64_t, uint64_t> sizes;
  for (uint64_t t = 1; t <= kMaxAttachedGmems; ++t) AddGmem(&r, t, &sizes);
  EXPECT_TRUE(CheckDeclared(r, sizes, "Attach").ok());
  AddGmem(&r, kMaxAttachedGmems + 1, &sizes);
  const Status s = CheckDeclared(r, sizes, "Attach");
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(s.message(), "Attach: at most 1024 gmems in a session");
}

TEST(CheckDeclaredTest, MoreMemslotsThanAVmHoldsAreRefused) {
  v1::SessionRecord r;
  std::map<uint64_t, uint64_t> sizes;
  AddGmem(&r, 1, &sizes)->set_vm_token(7);
  sizes[1] = (kMaxVmMemslots + 1) * kPage;
  AddVm(&r, 7, 1, kMaxVmMemslots + 1);
  const Status s = CheckDeclared(r, sizes, "Attach");
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(s.message(), "Attach: VM 7 would have 4097 memslots, at most 4096");
}

TEST(CheckDeclaredTest, MoreAttributeRangesThanAGmemHoldsAreRefused) {
  v1::SessionRecord r;
  std::map<uint64_t, uint64_t> sizes;
  v1::GmemAttachment* g = AddGmem(&r, 1, &sizes);
  sizes[1] = 2 * (kMaxGmemAttributeRanges + 1) * kPage;
  for (size_t i = 0; i <= kMaxGmemAttributeRanges; ++i) {
    v1::AttributeRange* a = g->add_attributes();
    a->set_first(2 * i);
    a->set_count(1);
    a->set_value(8);
  }
  const Status s = CheckDeclared(r, sizes, "UpdateAttributes");
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "UpdateAttributes: gmem 1 would have 65537 attribute ranges, at most 65536");
}

// 1024 gmems at 65536 ranges each would pass every per-gmem cap.
TEST(CheckDeclaredTest, MoreAttributeRangesThanASessionHoldsAreRefused) {
  v1::SessionRecord r;
  std::map<uint64_t, uint64_t> sizes;
  const size_t per_gmem = kMaxSessionAttributeRanges / 2;
  for (uint64_t t = 1; t <= 3; ++t) {
    v1::GmemAttachment* g = AddGmem(&r, t, &sizes);
    sizes[t] = 2 * per_gmem * kPage;
    for (size_t i = 0; i < per_gmem && (t < 3 || i == 0); ++i) {
      v1::AttributeRange* a = g->add_attributes();
      a->set_first(2 * i);
      a->set_count(1);
      a->set_value(8);
    }
  }
  const Status s = CheckDeclared(r, sizes, "Attach");
  EXPECT_EQ(s.code(), Status::Code::kResourceExhausted) << s.ToString();
  EXPECT_EQ(
      s.message(),
      "Attach: the session would hold 131073 attribute ranges over its gmems, at most 131072");
  r.mutable_gmems(2)->clear_attributes();
  EXPECT_TRUE(CheckDeclared(r, sizes, "Attach").ok());
}

TEST(CheckDeclaredTest, MoreMemslotsThanASessionHoldsAreRefused) {
  v1::SessionRecord r;
  std::map<uint64_t, uint64_t> sizes;
  const size_t vms = kMaxSessionMemslots / kMaxVmMemslots + 1;
  for (uint64_t t = 1; t <= vms; ++t) {
    AddGmem(&r, t, &sizes)->set_vm_token(t);
    sizes[t] = kMaxVmMemslots * kPage;
    AddVm(&r, t, t, kMaxVmMemslots);
  }
  const Status s = CheckDeclared(r, sizes, "Attach");
  EXPECT_EQ(s.code(), Status::Code::kResourceExhausted) << s.ToString();
  EXPECT_EQ(s.message(), "Attach: the session would hold " + std::to_string(vms * kMaxVmMemslots) +
                             " memslots over its VMs, at most 16384");
}

// Within every count, a record of wide values is still bounded in bytes.
TEST(CheckDeclaredTest, ARecordPastItsSizeIsRefusedWhateverItsCounts) {
  v1::SessionRecord r;
  std::map<uint64_t, uint64_t> sizes;
  for (uint64_t t = 1; t <= 2; ++t) {
    v1::GmemAttachment* g = AddGmem(&r, t, &sizes);
    for (size_t i = 0; i < kMaxGmemAttributeRanges; ++i) {
      v1::AttributeRange* a = g->add_attributes();
      a->set_first((uint64_t{1} << 62) + i);  // 9-byte varints
      a->set_count(uint64_t{1} << 62);
      a->set_value(uint64_t{1} << 63);  // 10 bytes
    }
  }
  ASSERT_GT(r.ByteSizeLong(), kMaxSessionRecordBytes);
  const Status s = CheckDeclared(r, sizes, "UpdateAttributes");
  EXPECT_EQ(s.code(), Status::Code::kResourceExhausted) << s.ToString();
  EXPECT_EQ(s.message(), "UpdateAttributes: the session record would be " +
                             std::to_string(r.ByteSizeLong()) + " bytes, at most 3145728");
}

}  // namespace
}  // namespace khod
