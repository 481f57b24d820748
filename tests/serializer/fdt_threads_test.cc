// An FDT blob's folio tables shared between threads (CodecOptions::threads):
// the bytes are those one thread writes, the snapshot (and its lists' facts)
// the one one thread decodes, and a broken record in any chunk is refused
// as one thread refuses it.
#include <gtest/gtest.h>
#include <libfdt.h>

#include <cstring>

#include "serializer/fdt_checksum.h"
#include "serializer/fdt_layout.h"
#include "serializer/serializer.h"

namespace khod {
namespace {

// `extents` single pages two apart, PFNs three apart: one extent each.
GuestMemfd Gmem(uint64_t token, uint64_t extents) {
  GuestMemfd g;
  g.token = token;
  g.size = extents * 2 * 4096;
  g.folios.reserve(extents);
  for (uint64_t i = 0; i < extents; ++i)
    g.folios.push_back({i * 2, (token << 32) + i * 3, 1, 0, kFolioUptodate});
  return g;
}

// Three gmems: 4, 1 and 3 chunks of folio records (43,690 a chunk).
Snapshot ThreeGmems() {
  Snapshot s;
  s.gmems.push_back(Gmem(1, 150000));
  s.gmems.push_back(Gmem(2, 10));
  s.gmems.push_back(Gmem(3, 100000));
  s.gmems[2].hashes.push_back({0, 1, 0x1234});
  return s;
}

// The bytes of chunk `chunk` of gmem `token`'s folio table.
uint8_t* ChunkBytes(std::string* blob, uint64_t token, int chunk, int* len) {
  const std::string path = "/gmem-" + std::to_string(token) + "/folios";
  const int node = fdt_path_offset(blob->data(), path.c_str());
  if (node < 0) return nullptr;
  const std::string name = fdt_layout::kChunkPrefix + std::to_string(chunk);
  const void* p = fdt_getprop(blob->data(), node, name.c_str(), len);
  return p ? reinterpret_cast<uint8_t*>(&(*blob)[static_cast<const char*>(p) - blob->data()])
           : nullptr;
}

TEST(FdtThreadsTest, ManyThreadsWriteTheBytesOneThreadWrites) {
  const Snapshot snap = ThreeGmems();
  std::string one;
  ASSERT_TRUE(EncodeFdt(snap, &one, CodecOptions{1}).ok());
  for (int threads : {2, 3, 7, 0}) {
    std::string many;
    ASSERT_TRUE(EncodeFdt(snap, &many, CodecOptions{threads}).ok()) << threads;
    EXPECT_TRUE(many == one) << threads << " threads wrote other bytes";
  }
}

TEST(FdtThreadsTest, ManyThreadsDecodeWhatOneThreadDecodes) {
  const Snapshot snap = ThreeGmems();
  std::string blob;
  ASSERT_TRUE(EncodeFdt(snap, &blob).ok());
  for (int threads : {1, 2, 3, 5, 0}) {
    Snapshot back;
    const Status s = DecodeFdt(blob, &back, CodecOptions{threads});
    ASSERT_TRUE(s.ok()) << threads << ": " << s.ToString();
    EXPECT_TRUE(back == snap) << threads;
    for (size_t i = 0; i < snap.gmems.size(); ++i) {
      const FolioListFacts& f = back.gmems[i].folios.facts();
      EXPECT_TRUE(f.well_formed) << threads;
      EXPECT_EQ(f.pages, snap.gmems[i].folios.size()) << threads;
      EXPECT_EQ(f.end_index, snap.gmems[i].folios.back().end_index()) << threads;
    }
    Snapshot via_any;
    ASSERT_TRUE(DecodeAny(blob, &via_any, nullptr, CodecOptions{threads}).ok());
    EXPECT_TRUE(via_any == snap) << threads;
  }
}

// A record of a later chunk made to overlap the one before it, the blob
// resealed so that only the invariants can find it.
TEST(FdtThreadsTest, ABrokenRecordInALaterChunkIsRefusedAsOneThreadRefusesIt) {
  const Snapshot snap = ThreeGmems();
  for (int at : {0, 1000}) {  // a chunk's first record (a run's first, too), and one inside
    std::string blob;
    ASSERT_TRUE(EncodeFdt(snap, &blob).ok());
    int len = 0;
    uint8_t* chunk = ChunkBytes(&blob, 1, 2, &len);
    ASSERT_NE(chunk, nullptr);
    ASSERT_GT(len, (at + 1) * 24);
    uint64_t index;
    std::memcpy(&index, chunk + at * 24, 8);
    index -= 2;  // now the previous extent's page
    std::memcpy(chunk + at * 24, &index, 8);
    ASSERT_TRUE(SealFdt(&blob).ok());
    Snapshot back;
    const Status one = DecodeFdt(blob, &back, CodecOptions{1});
    ASSERT_EQ(one.code(), Status::Code::kCorruption) << one.ToString();
    EXPECT_NE(one.message().find("overlaps or precedes"), std::string::npos) << one.ToString();
    for (int threads : {2, 3, 4}) {
      const Status many = DecodeFdt(blob, &back, CodecOptions{threads});
      EXPECT_EQ(many.ToString(), one.ToString()) << threads << " threads, record " << at;
    }
  }
}

}  // namespace
}  // namespace khod
