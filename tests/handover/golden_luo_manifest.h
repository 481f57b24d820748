// What the checked-in KHODLUO1 golden (tests/handover/golden/, docs/FORMAT.md
// "luo") holds: the blob memfd's whole content as an old khod's LuoTransport
// writes it before a kexec. make_luo_golden writes it once per manifest
// version; handover_luo_test reads it back field by field, so that a layout
// change on both the writing and the reading side still fails.
#ifndef KHOD_TESTS_HANDOVER_GOLDEN_LUO_MANIFEST_H_
#define KHOD_TESTS_HANDOVER_GOLDEN_LUO_MANIFEST_H_

#include <cstdint>

namespace khod {

// The manifest, version 1 (magic "KHODLUO1").
constexpr char kGoldenLuoManifestName[] = "luo_manifest_v1.khodluo";

// The gmem tokens it lists, in the order Send preserves them (ascending); the
// last has a distinct value in each byte, so a byte order change shows.
inline constexpr uint64_t kGoldenLuoTokens[] = {0x2a, 0x2f, 0x8877665544332211ull};

// The blob after the tokens: the format 1.2 FDT golden snapshot, the bytes of
// tests/serializer/golden/snapshot_v1_2.fdt (kSnapshotGoldenDir).
constexpr char kGoldenLuoBlobName[] = "snapshot_v1_2.fdt";

}  // namespace khod

#endif  // KHOD_TESTS_HANDOVER_GOLDEN_LUO_MANIFEST_H_
