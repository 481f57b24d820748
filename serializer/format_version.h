// The snapshot format version both encoders write (docs/FORMAT.md
// "Versions and compatibility"). Readers accept any minor of kFormatMajor; a
// newer minor only adds fields/properties, which they ignore.
#ifndef KHOD_SERIALIZER_FORMAT_VERSION_H_
#define KHOD_SERIALIZER_FORMAT_VERSION_H_

#include <cstdint>

namespace khod {

constexpr uint16_t kFormatMajor = 1;
// 1.1: flags_known, policy_source, mapping_policies, visibility (issue 10).
// 1.2: whether a policy's home node was seen (older_minors.h says what an
// older blob reads as).
// 1.3: no new bytes, a meaning: an inode policy is the one policy of every
// page of the file (its whole shared policy), and a HugeTLB memfd's policy is
// never an inode policy (older_minors.h: an older blob's kernel inode policy
// reads as unknown).
constexpr uint16_t kFormatMinor = 3;

}  // namespace khod

#endif  // KHOD_SERIALIZER_FORMAT_VERSION_H_
