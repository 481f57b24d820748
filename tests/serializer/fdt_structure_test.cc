// CheckFdtStructure (serializer/fdt_structure.h) on hand-laid FDTs: each rule
// of the bounded walk refuses its hostile blob with a message naming the
// problem, and well-formed trees (libfdt's own and khod's) pass.
#include "serializer/fdt_structure.h"

#include <gtest/gtest.h>
#include <libfdt.h>

#include <cstdint>
#include <string>
#include <vector>

#include "serializer/fdt_checksum.h"
#include "serializer/serializer.h"

namespace khod {
namespace {

// A structure block built token by token, big-endian as FDT stores it.
class StructBlock {
 public:
  StructBlock& U32(uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) bytes_.push_back(static_cast<char>(v >> shift));
    return *this;
  }
  StructBlock& BeginNode(const std::string& name) {
    U32(FDT_BEGIN_NODE);
    bytes_ += name;
    bytes_.push_back('\0');
    return Pad();
  }
  StructBlock& EndNode() { return U32(FDT_END_NODE); }
  // A property whose name is at `name_off` of the strings block.
  StructBlock& Prop(uint32_t name_off, const std::string& value) {
    U32(FDT_PROP).U32(static_cast<uint32_t>(value.size())).U32(name_off);
    bytes_ += value;
    return Pad();
  }
  StructBlock& End() { return U32(FDT_END); }
  const std::string& bytes() const { return bytes_; }

 private:
  StructBlock& Pad() {
    while (bytes_.size() % 4 != 0) bytes_.push_back('\0');
    return *this;
  }
  std::string bytes_;
};

void PutBe32(std::string* blob, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) (*blob)[at + i] = static_cast<char>(v >> (24 - 8 * i));
}

// header (40 bytes) | empty reservation map (16) | structure block | strings block.
std::string Blob(const StructBlock& s, const std::string& strings = std::string("name\0", 5)) {
  std::string blob(56, '\0');
  blob += s.bytes();
  blob += strings;
  PutBe32(&blob, 0, FDT_MAGIC);
  PutBe32(&blob, 4, static_cast<uint32_t>(blob.size()));             // totalsize
  PutBe32(&blob, 8, 56);                                             // off_dt_struct
  PutBe32(&blob, 12, static_cast<uint32_t>(56 + s.bytes().size()));  // off_dt_strings
  PutBe32(&blob, 16, 40);                                            // off_mem_rsvmap
  PutBe32(&blob, 20, 17);                                            // version
  PutBe32(&blob, 24, 16);                                            // last_comp_version
  PutBe32(&blob, 32, static_cast<uint32_t>(strings.size()));         // size_dt_strings
  PutBe32(&blob, 36, static_cast<uint32_t>(s.bytes().size()));       // size_dt_struct
  return blob;
}

// Runs the callers' O(1) header checks, then the walk.
Status Check(const std::string& blob) {
  EXPECT_EQ(fdt_check_header(blob.data()), 0) << "test blob's header is itself broken";
  return CheckFdtStructure(blob.data());
}

void ExpectRefused(const std::string& blob, const std::string& what) {
  const Status st = Check(blob);
  EXPECT_EQ(st.code(), Status::Code::kCorruption) << st.ToString();
  EXPECT_NE(st.message().find(what), std::string::npos) << st.ToString();
}

StructBlock OneRootWithProp() {
  StructBlock s;
  s.BeginNode("").Prop(0, "abc").BeginNode("child").Prop(0, "x").EndNode().EndNode().End();
  return s;
}

TEST(FdtStructure, HandLaidTreePasses) {
  const Status st = Check(Blob(OneRootWithProp()));
  EXPECT_TRUE(st.ok()) << st.ToString();
}

TEST(FdtStructure, LibfdtAndKhodTreesPass) {
  std::string buf(4096, '\0');
  ASSERT_EQ(fdt_create_empty_tree(&buf[0], static_cast<int>(buf.size())), 0);
  ASSERT_GE(fdt_add_subnode(&buf[0], 0, "a"), 0);
  ASSERT_EQ(fdt_setprop_u32(&buf[0], 0, "n", 7), 0);
  ASSERT_EQ(fdt_add_mem_rsv(&buf[0], 0x1000, 0x2000), 0);
  EXPECT_TRUE(Check(buf).ok()) << Check(buf).ToString();

  Snapshot snap;
  snap.header.producer = "fdt_structure_test";
  std::string blob;
  ASSERT_TRUE(EncodeFdt(snap, &blob).ok());
  EXPECT_TRUE(Check(blob).ok()) << Check(blob).ToString();
}

// The hang of issue 11 item 15: a length that wraps the next offset back onto itself.
TEST(FdtStructure, PropertyLengthPastTheBlockRefused) {
  StructBlock s;
  s.BeginNode("").U32(FDT_PROP).U32(0xfffffff4).U32(0).EndNode().End();
  ExpectRefused(Blob(s), "property value of 4294967284 bytes runs past the structure block");
}

// The fuzzer's re-sealing hung in libfdt on such a root property before SealFdt walked first.
TEST(FdtStructure, SealFdtRefusesWhatTheWalkRefuses) {
  StructBlock s;
  s.BeginNode("").U32(FDT_PROP).U32(0xfffffff4).U32(0).EndNode().End();
  std::string blob = Blob(s);
  const Status st = SealFdt(&blob);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument) << st.ToString();
  EXPECT_NE(st.message().find("runs past the structure block"), std::string::npos) << st.ToString();
}

TEST(FdtStructure, PropertyNameOutsideStringsRefused) {
  StructBlock s;
  s.BeginNode("").Prop(5, "v").EndNode().End();
  ExpectRefused(Blob(s), "property name offset 5 outside the strings block (5 bytes)");
}

TEST(FdtStructure, PropertyNameWithoutNulRefused) {
  StructBlock s;
  s.BeginNode("").Prop(0, "v").EndNode().End();
  ExpectRefused(Blob(s, "name"), "is not NUL-terminated inside the strings block");
}

TEST(FdtStructure, NodeNameWithoutNulRefused) {
  StructBlock s;
  s.BeginNode("").U32(FDT_BEGIN_NODE).U32(0x41414141);  // "AAAA" to the block's end
  ExpectRefused(Blob(s), "node name runs past the structure block");
}

TEST(FdtStructure, UnknownTokenRefused) {
  StructBlock s;
  s.BeginNode("").U32(7).EndNode().End();
  ExpectRefused(Blob(s), "at byte 0x40: unknown structure token 0x7");
}

TEST(FdtStructure, MissingEndRefused) {
  StructBlock s;
  s.BeginNode("").EndNode().U32(FDT_NOP);
  ExpectRefused(Blob(s), "structure block ends without FDT_END");
}

TEST(FdtStructure, UnclosedNodeRefused) {
  StructBlock s;
  s.BeginNode("").BeginNode("a").EndNode().End();
  ExpectRefused(Blob(s), "FDT_END with 1 node(s) not closed");
}

TEST(FdtStructure, StrayEndNodeRefused) {
  StructBlock s;
  s.BeginNode("").EndNode().EndNode().End();
  ExpectRefused(Blob(s), "FDT_END_NODE outside any node");
}

TEST(FdtStructure, SecondRootRefused) {
  StructBlock s;
  s.BeginNode("").EndNode().BeginNode("").EndNode().End();
  ExpectRefused(Blob(s), "a second root node");
}

TEST(FdtStructure, NamedRootRefused) {
  StructBlock s;
  s.BeginNode("root").EndNode().End();
  ExpectRefused(Blob(s), "the root node has a name");
}

TEST(FdtStructure, PropertyOutsideNodesRefused) {
  StructBlock s;
  s.Prop(0, "v").BeginNode("").EndNode().End();
  ExpectRefused(Blob(s), "property outside any node");
}

TEST(FdtStructure, PropertyAfterSubnodeRefused) {
  StructBlock s;
  s.BeginNode("").BeginNode("a").EndNode().Prop(0, "v").EndNode().End();
  ExpectRefused(Blob(s), "property after a subnode of its node");
}

TEST(FdtStructure, BytesAfterEndRefused) {
  StructBlock s;
  s.BeginNode("").EndNode().End().U32(FDT_NOP);
  ExpectRefused(Blob(s), "4 bytes after FDT_END inside the structure block");
}

TEST(FdtStructure, DepthBounded) {
  StructBlock ok, deep;
  ok.BeginNode("");
  deep.BeginNode("");
  for (int i = 1; i < kMaxFdtDepth; ++i) ok.BeginNode("n");
  for (int i = 1; i <= kMaxFdtDepth; ++i) deep.BeginNode("n");
  for (int i = 0; i < kMaxFdtDepth; ++i) ok.EndNode();
  for (int i = 0; i <= kMaxFdtDepth; ++i) deep.EndNode();
  ok.End();
  deep.End();
  EXPECT_TRUE(Check(Blob(ok)).ok()) << Check(Blob(ok)).ToString();
  ExpectRefused(Blob(deep), "nodes nested deeper than 32");
}

TEST(FdtStructure, OldVersionRefused) {
  std::string blob = Blob(OneRootWithProp());
  PutBe32(&blob, 20, 16);
  ExpectRefused(blob, "header version 16: khod reads version 17 and later");
}

TEST(FdtStructure, MisalignedStructureBlockRefused) {
  std::string blob = Blob(OneRootWithProp());
  PutBe32(&blob, 36, static_cast<uint32_t>(OneRootWithProp().bytes().size() - 2));
  ExpectRefused(blob, "is not 4-byte aligned");
}

TEST(FdtStructure, ReservationMapWithoutTerminatorRefused) {
  std::string blob = Blob(OneRootWithProp());
  // 8-aligned, fewer than 16 bytes before the end: no room for the zero entry.
  PutBe32(&blob, 16, static_cast<uint32_t>((blob.size() - 8) & ~size_t{7}));
  ExpectRefused(blob, "memory reservation map reaches the blob's end");
  PutBe32(&blob, 16, 44);
  ExpectRefused(blob, "memory reservation map offset 0x2c is not 8-byte aligned");
}

}  // namespace
}  // namespace khod
