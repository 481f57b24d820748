// The sizes FORMAT.md promises: a 1 TiB guest in 214-page PFN runs under 0.2
// blob bytes per folio in both formats with FDT tables split into <= 1 MiB
// chunks, and the 64 GiB worst case (16 M single-folio extents) round trips.
// Timing is the benchmarks' job (bench/); this only checks sizes and identity.
#include <gtest/gtest.h>
#include <libfdt.h>

#include "serializer/fdt_layout.h"
#include "serializer/serializer.h"

namespace khod {
namespace {

Snapshot Guest(uint64_t bytes, uint32_t run, uint64_t pfn_step) {
  Snapshot s;
  GuestMemfd g;
  g.token = 1;
  g.size = bytes;
  const uint64_t pages = bytes / 4096;
  g.folios.reserve(pages / run + 1);
  uint64_t pfn = 1 << 20;
  for (uint64_t index = 0; index < pages; index += run, pfn += pfn_step) {
    const uint32_t n = static_cast<uint32_t>(std::min<uint64_t>(run, pages - index));
    g.folios.push_back({index, pfn, n, 0, kFolioUptodate | kFolioDirty});
  }
  s.gmems.push_back(std::move(g));
  return s;
}

void ExpectRoundTrip(const Snapshot& snap, BlobFormat f, double max_bytes_per_folio,
                     std::string* blob) {
  ASSERT_TRUE(Encode(snap, f, blob).ok());
  const double folios = static_cast<double>(snap.gmems[0].size / 4096);
  EXPECT_LT(blob->size() / folios, max_bytes_per_folio) << BlobFormatName(f);
  Snapshot back;
  const Status s = DecodeAny(*blob, &back);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(back == snap) << BlobFormatName(f);
}

TEST(SerializerScale, OneTebibyteIn214PageRuns) {
  const Snapshot snap = Guest(1ull << 40, 214, 214 + 9);
  const uint64_t extents = ((1ull << 28) + 213) / 214;  // 1,254,372
  ASSERT_EQ(snap.gmems[0].folios.size(), extents);
  std::string fdt, proto;
  ExpectRoundTrip(snap, BlobFormat::kFdt, 0.2, &fdt);
  ExpectRoundTrip(snap, BlobFormat::kProto, 0.2, &proto);
  // Every chunk of the folio table is bounded; together they hold every extent.
  const int node = fdt_path_offset(fdt.data(), "/gmem-1/folios");
  ASSERT_GE(node, 0);
  int prop, chunks = 0;
  uint64_t bytes = 0;
  fdt_for_each_property_offset(prop, fdt.data(), node) {
    const char* name;
    int len;
    fdt_getprop_by_offset(fdt.data(), prop, &name, &len);
    if (std::string(name).rfind(fdt_layout::kChunkPrefix, 0) != 0) continue;
    EXPECT_LE(static_cast<size_t>(len), fdt_layout::kChunkBytes);
    bytes += len;
    ++chunks;
  }
  const uint64_t per_chunk = fdt_layout::kChunkBytes / fdt_layout::kFolioTable.record_size;
  EXPECT_EQ(bytes, fdt_layout::kFolioTable.record_size * extents);
  EXPECT_EQ(static_cast<uint64_t>(chunks), (extents + per_chunk - 1) / per_chunk);
}

TEST(SerializerScale, WorstCase64GiBNoContiguousPfns) {
  const Snapshot snap = Guest(64ull << 30, 1, 2);  // every PFN one apart from its neighbour's end
  ASSERT_EQ(snap.gmems[0].folios.size(), 16777216u);
  std::string blob;
  ExpectRoundTrip(snap, BlobFormat::kFdt, 24.01, &blob);
  ExpectRoundTrip(snap, BlobFormat::kProto, 7, &blob);
}

}  // namespace
}  // namespace khod
