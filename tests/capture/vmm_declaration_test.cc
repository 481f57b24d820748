#include "capture/vmm_declaration.h"

#include <gtest/gtest.h>

namespace khod {
namespace {

const std::map<int, CapturedFileFacts> kFiles = {{7, {8 << 20, 4096}}, {8, {8 << 20, 2 << 20}}};

Status Check(const std::string& json) {
  v1::VmmDeclaration d;
  Status s = ParseVmmDeclaration(json, &d);
  if (!s.ok()) return s;
  return ValidateVmmDeclaration(d, kFiles, 4096);
}

bool Has(const Status& s, const std::string& part) {
  return s.message().find(part) != std::string::npos;
}

TEST(VmmDeclarationTest, ParsesFilesVmsAndAttributes) {
  v1::VmmDeclaration d;
  ASSERT_TRUE(ParseVmmDeclaration(
                  R"({"files":[{"fd":7,"flags":3,"name":"ram"}],
                      "vms":[{"token":"16","memslots":[{"slot":1,"base_gfn":256,"npages":512,
                      "userspace_addr":"0x7f0000000000","gmem_fd":7,"gmem_offset":4096}]}],
                      "attributes":[{"gmem_fd":7,"first":4,"count":2,"value":8}]})",
                  &d)
                  .ok());
  const v1::DeclaredFile* f = FindDeclaredFile(d, 7);
  ASSERT_NE(f, nullptr);
  EXPECT_TRUE(f->has_flags());
  EXPECT_EQ(f->flags(), 3u);
  EXPECT_EQ(f->name(), "ram");
  EXPECT_EQ(FindDeclaredFile(d, 8), nullptr);
  ASSERT_EQ(d.vms_size(), 1);
  EXPECT_EQ(d.vms(0).token(), 16u);  // a 64-bit number may be a decimal string
  const Memslot m = MemslotOf(d.vms(0).memslots(0));
  EXPECT_EQ(m.userspace_addr, 0x7f0000000000u);
  EXPECT_EQ(m.flags, 4u);  // KVM_MEM_GUEST_MEMFD by default
  EXPECT_EQ(m.gmem_offset, 4096u);
  EXPECT_EQ(DeclaredAttributesOf(d, 7).Get(5), 8u);
  EXPECT_TRUE(ValidateVmmDeclaration(d, kFiles, 4096).ok());
}

TEST(VmmDeclarationTest, DefaultsAreFilledInAndAddressesMayBeDecimal) {
  v1::VmmDeclaration d;
  ASSERT_TRUE(ParseVmmDeclaration(R"({"vms":[{},{"memslots":[{"slot":0,"base_gfn":0,"npages":1,
                                      "gmem_fd":7,"userspace_addr":"4096"}]}]})",
                                  &d)
                  .ok());
  EXPECT_EQ(d.vms(0).token(), 1u);  // its index + 1
  EXPECT_EQ(d.vms(1).token(), 2u);
  EXPECT_TRUE(d.vms(1).memslots(0).has_flags());
  EXPECT_EQ(MemslotOf(d.vms(1).memslots(0)).userspace_addr, 4096u);
}

TEST(VmmDeclarationTest, UnknownFieldsAreRefusedNamingThem) {
  Status s = Check(R"({"pid":1,"files":[]})");
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(Has(s, "declaration: pid: no such field")) << s.message();
  s = Check(R"({"vms":[{"memslots":[{"slot":0,"base_gfn":0,"npages":1,"gmem_fd":7,"npage":2}]}]})");
  EXPECT_TRUE(Has(s, "vms[0].memslots[0].npage: no such field")) << s.message();
}

// Found by vmm_declaration_fuzzer: protobuf 3.21 keeps a nested key "" as an
// unknown field instead of refusing it, so the declaration was accepted and did
// not read back as written.
TEST(VmmDeclarationTest, AnEmptyKeyInsideAMessageIsRefusedNamingWhere) {
  v1::VmmDeclaration d;
  Status s = ParseVmmDeclaration(R"({"vms":[{"":[{}]}]})", &d);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << s.ToString();
  EXPECT_NE(s.message().find("vms[0] has a key that names no field"), std::string::npos)
      << s.ToString();
  EXPECT_EQ(d.vms_size(), 0);
  EXPECT_FALSE(ParseVmmDeclaration(R"({"":[{}]})", &d).ok());
}

TEST(VmmDeclarationTest, MissingRequiredFieldsAndBadAddressesAreNamed) {
  Status s = Check(R"({"vms":[{"memslots":[{"slot":0,"base_gfn":0,"gmem_fd":7}]}]})");
  EXPECT_TRUE(Has(s, "vms[0].memslots[0].npages: missing (required)")) << s.message();
  s = Check(R"({"files":[{"name":"x"}]})");
  EXPECT_TRUE(Has(s, "files[0].fd: missing (required)")) << s.message();
  s = Check(R"({"attributes":[{"gmem_fd":7,"first":0,"count":1}]})");
  EXPECT_TRUE(Has(s, "attributes[0].value: missing (required)")) << s.message();
  for (const char* bad : {"0x", "0x12g", "-1", "1 ", "0x10000000000000000", "\u001b[31m"}) {
    s = Check(
        std::string(R"({"vms":[{"memslots":[{"slot":0,"base_gfn":0,"npages":1,"gmem_fd":7,)") +
        R"("userspace_addr":")" + bad + R"("}]}]})");
    EXPECT_TRUE(Has(s, "vms[0].memslots[0].userspace_addr: '")) << bad << ": " << s.message();
    EXPECT_EQ(s.message().find('\x1b'), std::string::npos) << "escape reached the message";
  }
  s = Check(R"({"vms":[{"memslots":[{"slot":0,"base_gfn":0,"npages":1,"gmem_fd":7,
                 "userspace_addr":4096}]}]})");
  EXPECT_TRUE(Has(s, "vms[0].memslots[0].userspace_addr: invalid value 4096")) << s.message();
}

TEST(VmmDeclarationTest, AnFdDeclaredTwiceIsRefusedAndNothingIsMerged) {
  v1::VmmDeclaration d;
  ASSERT_TRUE(ParseVmmDeclaration(R"({"files":[{"fd":7,"name":"a"}]})", &d).ok());
  Status s = ParseVmmDeclaration(R"({"files":[{"fd":8},{"fd":7,"name":"b"}]})", &d);
  EXPECT_TRUE(Has(s, "files[1].fd: fd 7 is declared twice")) << s.message();
  ASSERT_EQ(d.files_size(), 1);  // the refused document added nothing
  EXPECT_EQ(d.files(0).name(), "a");
  s = ParseVmmDeclaration(R"({"files":[{"fd":9},{"fd":9}]})", &d);
  EXPECT_TRUE(Has(s, "files[1].fd: fd 9 is declared twice")) << s.message();
}

TEST(VmmDeclarationTest, RefusesBadMemslots) {
  auto slot = [](const std::string& fields) {
    return R"({"vms":[{"memslots":[)" + fields + "]}]}";
  };
  Status s = Check(slot(R"({"slot":0,"base_gfn":0,"npages":4096,"gmem_fd":7,"gmem_offset":4096})"));
  EXPECT_NE(s.message().find("outside the file"), std::string::npos) << s.message();
  s = Check(slot(R"({"slot":0,"base_gfn":0,"npages":512,"gmem_fd":8,"gmem_offset":4096})"));
  EXPECT_NE(s.message().find("not aligned"), std::string::npos) << s.message();
  s = Check(slot(
      R"({"slot":0,"base_gfn":0,"npages":16,"gmem_fd":7},{"slot":1,"base_gfn":100,"npages":16,"gmem_fd":7,"gmem_offset":32768})"));
  EXPECT_NE(s.message().find("overlap in guest_memfd"), std::string::npos) << s.message();
  s = Check(slot(
      R"({"slot":0,"base_gfn":0,"npages":16,"gmem_fd":7},{"slot":1,"base_gfn":8,"npages":16,"gmem_fd":7,"gmem_offset":65536})"));
  EXPECT_NE(s.message().find("overlap in guest physical"), std::string::npos) << s.message();
  s = Check(slot(R"({"slot":0,"base_gfn":0,"npages":16,"gmem_fd":9})"));
  EXPECT_NE(s.message().find("not among the captured fds"), std::string::npos) << s.message();
  s = Check(slot(R"({"slot":0,"base_gfn":0,"npages":0,"gmem_fd":7})"));
  EXPECT_NE(s.message().find("npages is 0"), std::string::npos) << s.message();
}

TEST(VmmDeclarationTest, RefusesMalformedJsonAndAttributesPastTheEnd) {
  Status s = Check("{\"vms\":[");
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(s.message().find('\n'), std::string::npos) << "one line: " << s.message();
  EXPECT_EQ(Check("[1]").code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(Check(R"({"vms":[{"memslots":[{"slot":0}]}]})").code(), Status::Code::kInvalidArgument);
  s = Check(R"({"attributes":[{"gmem_fd":7,"first":2047,"count":2,"value":8}]})");
  EXPECT_NE(s.message().find("past the file's end"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace khod
