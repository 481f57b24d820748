// Names, compatibles and fixed record layouts of the FDT form
// (docs/FORMAT.md "FDT form"). Shared by the encoder and the decoder so the
// two cannot drift. All integers are native-endian, as KHO's ABI states for
// its FDT properties; records are packed with explicit reserved bytes, so
// their layout does not depend on the compiler.
#ifndef KHOD_SERIALIZER_FDT_LAYOUT_H_
#define KHOD_SERIALIZER_FDT_LAYOUT_H_

#include <cstddef>
#include <cstdint>

namespace khod {
namespace fdt_layout {

constexpr char kRootCompatible[] = "khod,snapshot-v1";
constexpr char kRootCompatiblePrefix[] = "khod,snapshot-v";
constexpr char kVmCompatible[] = "khod,vm-v1";
constexpr char kVmCompatiblePrefix[] = "khod,vm-v";
constexpr char kGmemCompatible[] = "khod,guest-memfd-v1";
constexpr char kGmemCompatiblePrefix[] = "khod,guest-memfd-v";

// Root properties.
constexpr char kPropCompatible[] = "compatible";
constexpr char kPropFormatVersion[] = "format-version";  // u32[2]: major, minor
constexpr char kPropChecksum[] = "checksum";             // u64 xxh3, see FORMAT.md
constexpr char kPropProducer[] = "producer";
constexpr char kPropKernelRelease[] = "kernel-release";
constexpr char kPropBootId[] = "boot-id";
constexpr char kPropCaptureTime[] = "capture-time-ns";  // u64
constexpr char kPropPageSize[] = "page-size";           // u32

// A table is a subnode holding fixed-size records split into chunk
// properties "chunk-0", "chunk-1", ... of at most kChunkBytes each, so no
// single property grows without bound and a reader can stream them.
constexpr char kPropRecordSize[] = "record-size";  // u32
constexpr char kPropNrRecords[] = "nr-records";    // u64
constexpr char kChunkPrefix[] = "chunk-";
constexpr size_t kChunkBytes = 1u << 20;

struct TableSpec {
  const char* node;        // subnode name
  const char* compatible;  // versioned per table
  uint32_t record_size;    // the size of the minor that made the table; newer minors may append
  uint32_t written_size =
      0;  // what this encoder writes, when a later minor appended (0: record_size)
  uint32_t write_size() const { return written_size ? written_size : record_size; }
};

// Record layouts (byte offsets; integers native-endian).
//   folio extent  (24): 0 u64 first_index, 8 u64 first_pfn, 16 u32 nr_folios,
//                       20 u8 order, 21 u8 flags, 22 u16 reserved
//   attribute     (24): 0 u64 first, 8 u64 count, 16 u64 value
//   content hash  (24): 0 u64 first_index, 8 u64 count, 16 u64 xxh3
//   restructure   (32): 0 u64 index, 8 u64 head_pfn, 16 u64 memcg_id,
//                       24 u8 original_order, 25 u8 in_progress, 26 u16 reserved,
//                       28 u32 nr_runs (taken in order from split-runs)
//   split run     (12): 0 u32 offset, 4 u32 count, 8 u8 order, 9 u8[3] reserved
//   memslot       (48): 0 u32 slot, 4 u32 flags, 8 u64 base_gfn, 16 u64 npages,
//                       24 u64 userspace_addr, 32 u64 gmem_token, 40 u64 gmem_offset
constexpr TableSpec kFolioTable = {"folios", "khod,folio-extents-v1", 24};
constexpr TableSpec kAttributeTable = {"attributes", "khod,attribute-ranges-v1", 24};
constexpr TableSpec kHashTable = {"hashes", "khod,content-hashes-v1", 24};
constexpr TableSpec kRestructureTable = {"restructures", "khod,restructure-records-v1", 32};
constexpr TableSpec kSplitRunTable = {"split-runs", "khod,split-runs-v1", 12};
constexpr TableSpec kMemslotTable = {"memslots", "khod,memslots-v1", 48};
// Format 1.1 (absent from 1.0 blobs):
//   visibility     (24): 0 u64 first_index, 8 u64 count, 16 u8 visibility
//                        (khod::PageVisibility), 17 u8[7] reserved
//   mapping policy (48): 0 u64 first_index, 8 u64 count, 16 u64 start_address,
//                        24 s32 pid, 28 s32 mode, 32 u32 mode_flags, 36 s32 home_node,
//                        40 u32 nr_nodemask_words (taken in order from
//                        mapping-nodemasks), 44 u32 reserved
//                   1.2 appends (56): 48 u32 policy_flags (kMappingPolicy*), 52 u32 reserved
//   nodemask word   (8): 0 u64
constexpr TableSpec kVisibilityTable = {"visibility", "khod,visibility-ranges-v1", 24};
constexpr TableSpec kMappingPolicyTable = {"mapping-policies", "khod,mapping-policies-v1", 48, 56};
// policy_flags: the policy's home node was not seen (home_node is -1 and says nothing).
constexpr uint32_t kMappingPolicyHomeNodeUnseen = 1u << 0;
constexpr TableSpec kMappingNodemaskTable = {"mapping-nodemasks", "khod,nodemask-words-v1", 8};

// VM node properties.
constexpr char kPropToken[] = "token";     // u64
constexpr char kPropVmType[] = "vm-type";  // u32

// guest_memfd node properties.
constexpr char kPropInode[] = "inode";                         // u64
constexpr char kPropName[] = "gmem-name";                      // string ("name" is reserved in DT)
constexpr char kPropProvenance[] = "provenance";               // u32
constexpr char kPropKind[] = "kind";                           // u32
constexpr char kPropSize[] = "size";                           // u64 bytes
constexpr char kPropFlags[] = "flags";                         // u64
constexpr char kPropBacking[] = "backing";                     // u32
constexpr char kPropHstateOrder[] = "hstate-order";            // u32
constexpr char kPropVmToken[] = "vm-token";                    // u64
constexpr char kPropPolicyMode[] = "mempolicy-mode";           // s32
constexpr char kPropPolicyFlags[] = "mempolicy-flags";         // u32
constexpr char kPropPolicyNodemask[] = "mempolicy-nodemask";   // u64[]
constexpr char kPropPolicyHomeNode[] = "mempolicy-home-node";  // s32
// Format 1.1; absent in 1.0: all flag bits known, policy of the inode.
constexpr char kPropFlagsKnown[] = "flags-known";      // u64
constexpr char kPropPolicySource[] = "policy-source";  // u32 (khod::PolicySource)
// Format 1.2; absent in 1.1 and 1.0 (serializer/older_minors.h says what they read as).
// Present (empty) when the inode policy's home node was not seen.
constexpr char kPropPolicyHomeNodeUnseen[] = "mempolicy-home-node-unseen";  // empty

}  // namespace fdt_layout
}  // namespace khod

#endif  // KHOD_SERIALIZER_FDT_LAYOUT_H_
