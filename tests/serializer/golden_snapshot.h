// The content of the checked-in golden blobs (tests/serializer/golden/): small but
// touching every field of the state model as each format version has it.
// make_golden writes the current version's blobs once; serializer_golden_test
// checks every version's keep decoding to their content.
#ifndef KHOD_TESTS_SERIALIZER_GOLDEN_SNAPSHOT_H_
#define KHOD_TESTS_SERIALIZER_GOLDEN_SNAPSHOT_H_

#include "state/snapshot.h"

namespace khod {

// Format 1.0's: as decoded, every gmem's 1.1 fields are their defaults (all
// flag bits known, the inode's policy, no visibility list = all kFull) but
// where serializer/older_minors.h takes a claim away: the kernel guest_memfd
// has no flag bit known and its policy unknown.
Snapshot GoldenSnapshot();
constexpr char kGoldenFdtName[] = "snapshot_v1_0.fdt";
constexpr char kGoldenProtoName[] = "snapshot_v1_0.khodsnap";

// Format 1.1's: 1.0's content with the observation fields set (policy per VMM
// mapping, flags partly known, visibility ranges of each kind) and two more
// guest_memfds: MMAP-only (initialized-only) and flags 0 (not observable). As
// decoded, its kernel bind policy's home node is not seen.
Snapshot GoldenSnapshotV1_1();
constexpr char kGoldenV1_1FdtName[] = "snapshot_v1_1.fdt";
constexpr char kGoldenV1_1ProtoName[] = "snapshot_v1_1.khodsnap";

// Format 1.2's: 1.1's content with a home node seen on one mapping policy,
// not seen on another, and a kernel shmem memfd whose inode policy (bind,
// home node not seen) decodes as unknown (older_minors.h: a 1.2 producer read
// one page's policy).
Snapshot GoldenSnapshotV1_2();
constexpr char kGoldenV1_2FdtName[] = "snapshot_v1_2.fdt";
constexpr char kGoldenV1_2ProtoName[] = "snapshot_v1_2.khodsnap";

// Format 1.3's (no new bytes, a meaning): 1.2's content with the shmem
// memfd's whole shared policy as an inode policy (bind node 0, home node 0
// seen) and a kernel HugeTLB memfd whose policy is its VMM mapping's.
Snapshot GoldenSnapshotV1_3();
constexpr char kGoldenV1_3FdtName[] = "snapshot_v1_3.fdt";
constexpr char kGoldenV1_3ProtoName[] = "snapshot_v1_3.khodsnap";

}  // namespace khod

#endif  // KHOD_TESTS_SERIALIZER_GOLDEN_SNAPSHOT_H_
