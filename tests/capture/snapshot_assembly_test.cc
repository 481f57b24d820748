// capture/snapshot_assembly.h: the one snapshot assembly, against fake sources.
#include "capture/snapshot_assembly.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "capture/snapshot_header.h"

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

}  // namespace
}  // namespace khod
