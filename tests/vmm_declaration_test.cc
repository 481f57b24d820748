#include "capture/vmm_declaration.h"

#include <gtest/gtest.h>

namespace khod {
namespace {

const std::map<int, CapturedFileFacts> kFiles = {{7, {8 << 20, 4096}}, {8, {8 << 20, 2 << 20}}};

Status Check(const std::string& json) {
  VmmDeclaration d;
  Status s = ParseVmmDeclaration(json, &d);
  if (!s.ok()) return s;
  return ValidateVmmDeclaration(d, kFiles, 4096);
}

TEST(VmmDeclarationTest, ParsesFilesVmsAndAttributes) {
  VmmDeclaration d;
  ASSERT_TRUE(ParseVmmDeclaration(
                  R"({"pid":1,"files":[{"fd":7,"flags":3,"name":"ram"}],
                      "vms":[{"token":"0x10","memslots":[{"slot":1,"base_gfn":256,"npages":512,
                      "userspace_addr":"0x7f0000000000","gmem_fd":7,"gmem_offset":4096}]}],
                      "attributes":[{"gmem_fd":7,"first":4,"count":2,"value":8}]})",
                  &d)
                  .ok());
  EXPECT_TRUE(d.files[7].has_flags);
  EXPECT_EQ(d.files[7].flags, 3u);
  EXPECT_EQ(d.files[7].name, "ram");
  ASSERT_EQ(d.vms.size(), 1u);
  EXPECT_EQ(d.vms[0].token, 16u);
  EXPECT_EQ(d.vms[0].memslots[0].slot.userspace_addr, 0x7f0000000000u);
  EXPECT_EQ(d.vms[0].memslots[0].slot.flags, 4u);  // KVM_MEM_GUEST_MEMFD by default
  EXPECT_EQ(d.attributes[7].Get(5), 8u);
  EXPECT_TRUE(ValidateVmmDeclaration(d, kFiles, 4096).ok());
}

TEST(VmmDeclarationTest, RefusesBadMemslots) {
  auto slot = [](const std::string& fields) {
    return R"({"vms":[{"memslots":[)" + fields + "]}]}";
  };
  Status s = Check(slot(R"({"slot":0,"base_gfn":0,"npages":4096,"gmem_fd":7,"gmem_offset":4096})"));
  EXPECT_NE(s.message().find("outside the file"), std::string::npos) << s.message();
  s = Check(slot(R"({"slot":0,"base_gfn":0,"npages":512,"gmem_fd":8,"gmem_offset":4096})"));
  EXPECT_NE(s.message().find("not aligned"), std::string::npos) << s.message();
  s = Check(slot(R"({"slot":0,"base_gfn":0,"npages":16,"gmem_fd":7},{"slot":1,"base_gfn":100,"npages":16,"gmem_fd":7,"gmem_offset":32768})"));
  EXPECT_NE(s.message().find("overlap in guest_memfd"), std::string::npos) << s.message();
  s = Check(slot(R"({"slot":0,"base_gfn":0,"npages":16,"gmem_fd":7},{"slot":1,"base_gfn":8,"npages":16,"gmem_fd":7,"gmem_offset":65536})"));
  EXPECT_NE(s.message().find("overlap in guest physical"), std::string::npos) << s.message();
  s = Check(slot(R"({"slot":0,"base_gfn":0,"npages":16,"gmem_fd":9})"));
  EXPECT_NE(s.message().find("not among the captured fds"), std::string::npos) << s.message();
  s = Check(slot(R"({"slot":0,"base_gfn":0,"npages":0,"gmem_fd":7})"));
  EXPECT_NE(s.message().find("npages is 0"), std::string::npos) << s.message();
}

TEST(VmmDeclarationTest, RefusesMalformedJsonAndAttributesPastTheEnd) {
  EXPECT_EQ(Check("{\"vms\":[").code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(Check(R"({"vms":[{"memslots":[{"slot":0}]}]})").code(), Status::Code::kInvalidArgument);
  Status s = Check(R"({"attributes":[{"gmem_fd":7,"first":2047,"count":2,"value":8}]})");
  EXPECT_NE(s.message().find("past the file's end"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace khod
