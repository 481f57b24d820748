// Hostile VMM declarations and fds: numbers that would wrap (fd, vm_type,
// attribute ranges, memslot sizes), files that never end, and error messages
// that name the VMM's fd rather than khod's own duplicate of it.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <string>

#include "capture/vmm_declaration.h"
#include "kernel/memory_file.h"
#include "state/invariants.h"

namespace khod {
namespace {

bool Has(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

Status Parse(const std::string& json, v1::VmmDeclaration* d) {
  return ParseVmmDeclaration(json, d);
}

TEST(CaptureInputTest, FdNumbersThatWouldWrapAreRefused) {
  // 4294967299 = 2^32 + 3 would silently become fd 3.
  v1::VmmDeclaration d;
  Status s = Parse(R"({"files":[{"fd":4294967299,"flags":3}]})", &d);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(Has(s.message(), "files[0].fd: invalid value 4294967299")) << s.message();
  EXPECT_EQ(d.files_size(), 0);
  s = Parse(R"({"files":[{"fd":-3,"flags":3}]})", &d);
  EXPECT_TRUE(Has(s.message(), "files[0].fd: -3 is not an fd number")) << s.message();
  EXPECT_EQ(d.files_size(), 0);

  v1::VmmDeclaration a;
  s = Parse(R"({"attributes":[{"gmem_fd":4294967299,"first":0,"count":2,"value":8}]})", &a);
  EXPECT_TRUE(Has(s.message(), "attributes[0].gmem_fd")) << s.message();
  EXPECT_EQ(a.attributes_size(), 0);

  v1::VmmDeclaration m;
  s = Parse(R"({"vms":[{"memslots":[{"slot":0,"base_gfn":0,"npages":2,"gmem_fd":4294967299}]}]})",
            &m);
  EXPECT_TRUE(Has(s.message(), "memslots[0].gmem_fd")) << s.message();
}

TEST(CaptureInputTest, AttributeRangeThatWrapsIsRefused) {
  v1::VmmDeclaration d;
  Status s = Parse(
      R"({"attributes":[{"gmem_fd":3,"first":18446744073709551615,"count":2,"value":8}]})", &d);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(Has(s.message(), "attributes[0]: first + count overflows")) << s.message();
}

TEST(CaptureInputTest, AttributeMapSaturatesAndInvariantsCatchIt) {
  // Set() with a wrapping end used to store a run ending before it starts,
  // which passed the invariants and made an FDT every decoder refused.
  AttributeMap m;
  m.Set(UINT64_MAX, 2, kAttrPrivate);
  m.Set(UINT64_MAX - 4, 8, kAttrPrivate);
  for (const AttributeRange& r : m.Ranges()) {
    EXPECT_GT(r.count, 0u);
    EXPECT_LE(r.count, UINT64_MAX - r.first);
  }
  Snapshot snap;
  snap.header.page_size = 4096;
  GuestMemfd g;
  g.token = 1;
  g.name = "g";
  g.size = 1 << 20;
  g.attributes = m;
  snap.gmems.push_back(g);
  EXPECT_FALSE(CheckInvariants(snap).empty());
  // A wrapping run handed to Assign() (decoders check first) is refused too.
  AttributeMap wrapped;
  wrapped.Assign({{UINT64_MAX - 1, 4, kAttrPrivate}});
  snap.gmems[0].attributes = wrapped;
  Status s = InvariantsStatus(snap);
  EXPECT_NE(s.message().find("range at page 18446744073709551614 is empty or wraps"),
            std::string::npos)
      << s.message();
}

TEST(CaptureInputTest, NarrowFieldsAndTypesAreChecked) {
  v1::VmmDeclaration d;
  Status s = Parse(R"({"vms":[{"token":1,"vm_type":4294967297}]})", &d);
  EXPECT_TRUE(Has(s.message(), "vm_type")) << s.message();
  s = Parse(R"({"files":[{"fd":3,"name":7}]})", &d);
  EXPECT_TRUE(Has(s.message(), "files[0].name: invalid value 7")) << s.message();
  s = Parse(R"({"files":[5]})", &d);
  EXPECT_TRUE(Has(s.message(), "files[0]: invalid value 5")) << s.message();
}

TEST(CaptureInputTest, VmsWhoseTokensShareLow16BitsDoNotOverlap) {
  // Tokens 1 and 65537 used to land in one address-space bucket.
  v1::VmmDeclaration d;
  ASSERT_TRUE(Parse(R"({"vms":[
      {"token":1,"memslots":[{"slot":0,"base_gfn":0,"npages":2,"gmem_fd":3}]},
      {"token":65537,"memslots":[{"slot":0,"base_gfn":0,"npages":2,"gmem_fd":3,"gmem_offset":8192}]}]})",
                    &d)
                  .ok());
  Status s = ValidateVmmDeclaration(d, {{3, {1 << 20, 4096}}}, 4096);
  EXPECT_TRUE(s.ok()) << s.message();
}

TEST(CaptureInputTest, MemslotSizeThatOverflowsIsNamed) {
  v1::VmmDeclaration d;
  // 2^52 + 1 pages of 4 KiB wrap to 4 KiB bytes.
  ASSERT_TRUE(
      Parse(
          R"({"vms":[{"memslots":[{"slot":0,"base_gfn":0,"npages":4503599627370497,"gmem_fd":3}]}]})",
          &d)
          .ok());
  Status s = ValidateVmmDeclaration(d, {{3, {1 << 20, 4096}}}, 4096);
  EXPECT_TRUE(Has(s.message(), "overflows")) << s.message();
}

TEST(CaptureInputTest, DeclarationFileThatNeverEndsOrIsADirectory) {
  v1::VmmDeclaration d;
  Status z = LoadVmmDeclaration("/dev/zero", &d);  // used to read forever
  EXPECT_EQ(z.code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(
      Has(z.message(), "declaration file /dev/zero is a character device, not a regular file"))
      << z.message();
  Status dir = LoadVmmDeclaration("/", &d);
  EXPECT_EQ(dir.code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(Has(dir.message(), "declaration file / is a directory")) << dir.message();
  Status missing = LoadVmmDeclaration("/nonexistent/decl.json", &d);
  EXPECT_EQ(missing.code(), Status::Code::kNotFound);
  EXPECT_EQ(missing.message(), "declaration file /nonexistent/decl.json: no such file");
}

TEST(CaptureInputTest, IdentifyNamesTheVmmFdNotOurDuplicate) {
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  auto id = IdentifyMemoryFile(p[0], "fd 9 of pid 1234");
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_EQ(id.status().message().rfind("fd 9 of pid 1234 (pipe:[", 0), 0u)
      << id.status().message();
  EXPECT_FALSE(Has(id.status().message(), "fd " + std::to_string(p[0]) + " "))
      << id.status().message();
  auto plain = IdentifyMemoryFile(p[1]);
  EXPECT_TRUE(Has(plain.status().message(), "fd " + std::to_string(p[1]) + " (pipe:["));
  ::close(p[0]);
  ::close(p[1]);
}

// fstat and readlink answer an O_PATH or a write-only fd as they answer a
// readable one: the file is refused before khod maps or reads it.
TEST(CaptureInputTest, AFileNotOpenForReadingIsRefused) {
  const int memfd = ::memfd_create("not-readable", MFD_CLOEXEC);
  ASSERT_GE(memfd, 0);
  ASSERT_EQ(::ftruncate(memfd, 1 << 16), 0);
  const std::string self = "/proc/self/fd/" + std::to_string(memfd);
  const int path_only = ::open(self.c_str(), O_PATH | O_CLOEXEC);
  const int write_only = ::open(self.c_str(), O_WRONLY | O_CLOEXEC);
  const int read_only = ::open(self.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(path_only, 0);
  ASSERT_GE(write_only, 0);
  ASSERT_GE(read_only, 0);
  auto o_path = IdentifyMemoryFile(path_only, "fd 5 of pid 77");
  ASSERT_FALSE(o_path.ok());
  EXPECT_EQ(o_path.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_TRUE(Has(o_path.status().message(),
                  "fd 5 of pid 77 (/memfd:not-readable (deleted)) is an "
                  "O_PATH fd"))
      << o_path.status().message();
  auto wronly = IdentifyMemoryFile(write_only);
  ASSERT_FALSE(wronly.ok());
  EXPECT_TRUE(Has(wronly.status().message(), "is open write-only")) << wronly.status().message();
  auto rdonly = IdentifyMemoryFile(read_only);
  ASSERT_TRUE(rdonly.ok()) << rdonly.status().ToString();
  EXPECT_EQ(rdonly->kind, FileKind::kShmemMemfd);
  for (int fd : {memfd, path_only, write_only, read_only}) ::close(fd);
}

}  // namespace
}  // namespace khod
