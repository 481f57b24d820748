// The content of the checked-in v1.0 golden blobs (tests/golden/): small but
// touching every field of the state model. make_golden writes the blobs from
// it once; serializer_golden_test checks they keep decoding to it.
#ifndef KHOD_TESTS_GOLDEN_SNAPSHOT_H_
#define KHOD_TESTS_GOLDEN_SNAPSHOT_H_

#include "state/snapshot.h"

namespace khod {

Snapshot GoldenSnapshot();

constexpr char kGoldenFdtName[] = "snapshot_v1_0.fdt";
constexpr char kGoldenProtoName[] = "snapshot_v1_0.khodsnap";

}  // namespace khod

#endif  // KHOD_TESTS_GOLDEN_SNAPSHOT_H_
