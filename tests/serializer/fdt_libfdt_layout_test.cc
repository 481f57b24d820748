// docs/FORMAT.md "FDT form" says khod's FDT is laid out byte for byte as
// libfdt's sequential-write API lays it out, but khod writes it with its own
// FdtWriter (serializer/fdt_encoder.cc), and so was the 1.3 golden
// (make_golden). Here the same 1.3 tree, from the golden's own input
// (GoldenSnapshotV1_3), is written with libfdt itself: fdt_create,
// fdt_finish_reservemap, fdt_begin_node, fdt_property, fdt_end_node,
// fdt_finish. Every node, property and record is spelled out from FORMAT.md
// here, not taken from khod's layout code; the checksum is the XXH3-64 of the
// finished blob with its own value zero. The blob libfdt writes must be khod's
// encoder's, and the checked-in golden's, byte for byte: same header, same
// reserve map, same structure block and the same strings block (libfdt's
// newest-first order and suffix sharing, which FdtWriter copies).
#include <gtest/gtest.h>
#include <libfdt.h>
#include <xxhash.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "serializer/serializer.h"
#include "tests/serializer/golden_snapshot.h"
#include "tests/support/golden_paths.h"

namespace khod {
namespace {

// libfdt's sequential writer, failing the test on any error. Integers are
// stored native-endian (KHO's convention): bytes of the host's value, not
// fdt_property_u32/u64, which store big-endian.
class LibfdtWriter {
 public:
  LibfdtWriter() : buf_(1 << 20, '\0') {
    Check(fdt_create(buf_.data(), static_cast<int>(buf_.size())), "fdt_create");
    Check(fdt_finish_reservemap(buf_.data()), "fdt_finish_reservemap");
  }
  void Begin(const std::string& name) { Check(fdt_begin_node(buf_.data(), name.c_str()), name); }
  void End() { Check(fdt_end_node(buf_.data()), "fdt_end_node"); }
  void Bytes(const char* name, const std::string& v) {
    Check(fdt_property(buf_.data(), name, v.data(), static_cast<int>(v.size())), name);
  }
  void String(const char* name, const std::string& v) {
    Check(fdt_property_string(buf_.data(), name, v.c_str()), name);
  }
  template <typename T>
  void Int(const char* name, T v) {
    Bytes(name, Native(v));
  }
  // A table node (FORMAT.md "Tables"): records already laid out in `records`.
  void Table(const char* node, const char* compatible, uint32_t record_size, uint64_t n,
             const std::string& records) {
    if (n == 0) return;  // an empty table is omitted
    ASSERT_EQ(records.size(), n * record_size) << node;
    ASSERT_LE(records.size(), 1u << 20) << node << ": one chunk only in the golden";
    Begin(node);
    String("compatible", compatible);
    Int<uint32_t>("record-size", record_size);
    Int<uint64_t>("nr-records", n);
    Bytes("chunk-0", records);
    End();
  }
  std::string Finish() {
    Check(fdt_finish(buf_.data()), "fdt_finish");
    std::string out = buf_.substr(0, fdt_totalsize(buf_.data()));
    // The root's checksum: XXH3-64 of the whole blob, its own 8 bytes counted as
    // zeros (they are zero until now).
    int len = 0;
    const char* sum = static_cast<const char*>(fdt_getprop(out.data(), 0, "checksum", &len));
    EXPECT_EQ(len, 8);
    if (sum == nullptr || len != 8) return out;
    const uint64_t value = XXH3_64bits(out.data(), out.size());
    std::memcpy(&out[sum - out.data()], &value, 8);
    return out;
  }

  template <typename T>
  static std::string Native(T v) {
    return std::string(reinterpret_cast<const char*>(&v), sizeof v);
  }

 private:
  static void Check(int rc, const std::string& what) {
    EXPECT_EQ(rc, 0) << what << ": " << fdt_strerror(rc);
  }
  std::string buf_;
};

// Records, packed, native-endian, reserved bytes zero (FORMAT.md "Tables").
template <typename T>
void Put(std::string* r, T v) {
  r->append(LibfdtWriter::Native(v));
}

std::string FdtWithLibfdt(const Snapshot& snap) {
  LibfdtWriter w;
  const SnapshotHeader& h = snap.header;
  w.Begin("");
  w.String("compatible", "khod,snapshot-v1");
  w.Bytes("format-version", LibfdtWriter::Native(uint32_t{1}) + LibfdtWriter::Native(uint32_t{3}));
  w.Int<uint64_t>("checksum", 0);
  w.String("producer", h.producer);
  w.String("kernel-release", h.kernel_release);
  w.String("boot-id", h.boot_id);
  w.Int<uint64_t>("capture-time-ns", h.capture_time_ns);
  w.Int<uint32_t>("page-size", h.page_size);
  char name[32];
  for (const Vm& vm : snap.vms) {
    std::snprintf(name, sizeof name, "vm-%llx", static_cast<unsigned long long>(vm.token));
    w.Begin(name);
    w.String("compatible", "khod,vm-v1");
    w.Int<uint64_t>("token", vm.token);
    w.Int<uint32_t>("vm-type", vm.vm_type);
    std::string slots;
    for (const Memslot& s : vm.memslots) {
      Put<uint32_t>(&slots, s.slot);
      Put<uint32_t>(&slots, s.flags);
      Put<uint64_t>(&slots, s.base_gfn);
      Put<uint64_t>(&slots, s.npages);
      Put<uint64_t>(&slots, s.userspace_addr);
      Put<uint64_t>(&slots, s.gmem_token);
      Put<uint64_t>(&slots, s.gmem_offset);
    }
    w.Table("memslots", "khod,memslots-v1", 48, vm.memslots.size(), slots);
    w.End();
  }
  for (const GuestMemfd& g : snap.gmems) {
    std::snprintf(name, sizeof name, "gmem-%llx", static_cast<unsigned long long>(g.token));
    w.Begin(name);
    w.String("compatible", "khod,guest-memfd-v1");
    w.Int<uint64_t>("token", g.token);
    w.Int<uint64_t>("inode", g.inode);
    w.String("gmem-name", g.name);
    w.Int<uint32_t>("provenance", static_cast<uint32_t>(g.provenance));
    w.Int<uint32_t>("kind", static_cast<uint32_t>(g.kind));
    w.Int<uint64_t>("size", g.size);
    w.Int<uint64_t>("flags", g.flags);
    w.Int<uint32_t>("backing", static_cast<uint32_t>(g.backing));
    w.Int<uint32_t>("hstate-order", g.hstate_order);
    w.Int<uint64_t>("vm-token", g.vm_token);
    w.Int<int32_t>("mempolicy-mode", g.policy.mode);
    w.Int<uint32_t>("mempolicy-flags", g.policy.mode_flags);
    std::string mask;
    for (uint64_t word : g.policy.nodemask) Put<uint64_t>(&mask, word);
    w.Bytes("mempolicy-nodemask", mask);
    w.Int<int32_t>("mempolicy-home-node", g.policy.home_node);
    w.Int<uint64_t>("flags-known", g.flags_known);
    w.Int<uint32_t>("policy-source", static_cast<uint32_t>(g.policy_source));
    if (!g.policy.home_node_seen) w.Bytes("mempolicy-home-node-unseen", "");

    std::string folios;
    for (size_t i = 0; i < g.folios.size(); ++i) {
      const FolioExtent& e = g.folios[i];
      Put<uint64_t>(&folios, e.first_index);
      Put<uint64_t>(&folios, e.first_pfn);
      Put<uint32_t>(&folios, e.nr_folios);
      Put<uint8_t>(&folios, e.order);
      Put<uint8_t>(&folios, e.flags);
      Put<uint16_t>(&folios, 0);
    }
    w.Table("folios", "khod,folio-extents-v1", 24, g.folios.size(), folios);
    const std::vector<AttributeRange> ranges = g.attributes.Ranges();
    std::string attrs;
    for (const AttributeRange& r : ranges) {
      Put<uint64_t>(&attrs, r.first);
      Put<uint64_t>(&attrs, r.count);
      Put<uint64_t>(&attrs, r.value);
    }
    w.Table("attributes", "khod,attribute-ranges-v1", 24, ranges.size(), attrs);
    std::string hashes;
    for (const ContentHash& c : g.hashes) {
      Put<uint64_t>(&hashes, c.first_index);
      Put<uint64_t>(&hashes, c.count);
      Put<uint64_t>(&hashes, c.xxh3);
    }
    w.Table("hashes", "khod,content-hashes-v1", 24, g.hashes.size(), hashes);
    std::string restructures, runs;
    uint64_t nr_runs = 0;
    for (const RestructureRecord& r : g.restructures) {
      Put<uint64_t>(&restructures, r.index);
      Put<uint64_t>(&restructures, r.head_pfn);
      Put<uint64_t>(&restructures, r.memcg_id);
      Put<uint8_t>(&restructures, r.original_order);
      Put<uint8_t>(&restructures, r.in_progress ? 1 : 0);
      Put<uint16_t>(&restructures, 0);
      Put<uint32_t>(&restructures, static_cast<uint32_t>(r.layout.size()));
      for (const SplitRun& s : r.layout) {
        Put<uint32_t>(&runs, s.offset);
        Put<uint32_t>(&runs, s.count);
        Put<uint8_t>(&runs, s.order);
        runs.append(3, '\0');
        ++nr_runs;
      }
    }
    w.Table("restructures", "khod,restructure-records-v1", 32, g.restructures.size(), restructures);
    w.Table("split-runs", "khod,split-runs-v1", 12, nr_runs, runs);
    std::string visibility;
    for (const VisibilityRange& v : g.visibility) {
      Put<uint64_t>(&visibility, v.first_index);
      Put<uint64_t>(&visibility, v.count);
      Put<uint8_t>(&visibility, static_cast<uint8_t>(v.visibility));
      visibility.append(7, '\0');
    }
    w.Table("visibility", "khod,visibility-ranges-v1", 24, g.visibility.size(), visibility);
    std::string policies, words;
    uint64_t nr_words = 0;
    for (const MappingPolicy& m : g.mapping_policies) {
      Put<uint64_t>(&policies, m.first_index);
      Put<uint64_t>(&policies, m.count);
      Put<uint64_t>(&policies, m.start_address);
      Put<int32_t>(&policies, m.pid);
      Put<int32_t>(&policies, m.policy.mode);
      Put<uint32_t>(&policies, m.policy.mode_flags);
      Put<int32_t>(&policies, m.policy.home_node);
      Put<uint32_t>(&policies, static_cast<uint32_t>(m.policy.nodemask.size()));
      Put<uint32_t>(&policies, 0);
      Put<uint32_t>(&policies, m.policy.home_node_seen ? 0 : 1);  // 1.2: policy_flags
      Put<uint32_t>(&policies, 0);
      for (uint64_t word : m.policy.nodemask) {
        Put<uint64_t>(&words, word);
        ++nr_words;
      }
    }
    w.Table("mapping-policies", "khod,mapping-policies-v1", 56, g.mapping_policies.size(),
            policies);
    w.Table("mapping-nodemasks", "khod,nodemask-words-v1", 8, nr_words, words);
    w.End();
  }
  w.End();
  return w.Finish();
}

std::string ReadGolden(const char* name) {
  std::ifstream f(GoldenPath(kSnapshotGoldenDir, name), std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The first offset at which two blobs differ, for the failure message.
size_t FirstDifference(const std::string& a, const std::string& b) {
  size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  return i;
}

TEST(FdtLibfdtLayout, LibfdtWritesTheGoldenTreeByteForByte) {
  const Snapshot snap = GoldenSnapshotV1_3();
  const std::string libfdt = FdtWithLibfdt(snap);
  ASSERT_FALSE(::testing::Test::HasFailure());
  ASSERT_EQ(fdt_check_header(libfdt.data()), 0);

  std::string khod;
  const Status encoded = Encode(snap, BlobFormat::kFdt, &khod);
  ASSERT_TRUE(encoded.ok()) << encoded.ToString();
  EXPECT_EQ(libfdt.size(), khod.size());
  EXPECT_TRUE(libfdt == khod) << "khod's FdtWriter and libfdt differ first at byte "
                              << FirstDifference(libfdt, khod);
  // Each block on its own, to say which one differs if the whole does.
  EXPECT_EQ(fdt_off_mem_rsvmap(libfdt.data()), fdt_off_mem_rsvmap(khod.data()));
  EXPECT_EQ(fdt_off_dt_struct(libfdt.data()), fdt_off_dt_struct(khod.data()));
  EXPECT_EQ(fdt_size_dt_struct(libfdt.data()), fdt_size_dt_struct(khod.data()));
  EXPECT_EQ(fdt_off_dt_strings(libfdt.data()), fdt_off_dt_strings(khod.data()));
  EXPECT_EQ(fdt_size_dt_strings(libfdt.data()), fdt_size_dt_strings(khod.data()));
  EXPECT_TRUE(libfdt.substr(fdt_off_dt_strings(libfdt.data())) ==
              khod.substr(fdt_off_dt_strings(khod.data())))
      << "the strings blocks differ";

  // And the checked-in golden (make_golden, khod's encoder) is the blob libfdt writes.
  const std::string golden = ReadGolden(kGoldenV1_3FdtName);
  ASSERT_FALSE(golden.empty()) << "missing " << GoldenPath(kSnapshotGoldenDir, kGoldenV1_3FdtName);
  EXPECT_TRUE(libfdt == golden) << kGoldenV1_3FdtName << " and libfdt differ first at byte "
                                << FirstDifference(libfdt, golden);
  // Which the decoder reads back as its input.
  Snapshot back;
  const Status decoded = DecodeAny(libfdt, &back);
  ASSERT_TRUE(decoded.ok()) << decoded.ToString();
  EXPECT_TRUE(back == snap);
}

}  // namespace
}  // namespace khod
