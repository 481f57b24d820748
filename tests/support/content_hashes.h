// A capture's content hashes checked against the file itself, read
// independently of khod's hashing code: each is XXH3-64, as the library
// computes it, of the file's bytes in the pages it covers.
#ifndef KHOD_TESTS_SUPPORT_CONTENT_HASHES_H_
#define KHOD_TESTS_SUPPORT_CONTENT_HASHES_H_

#include <gtest/gtest.h>
#include <unistd.h>
#include <xxhash.h>

#include <cstdint>
#include <vector>

#include "state/snapshot.h"

namespace khod {

inline void ExpectEachHashIsItsBytes(int fd, const std::vector<ContentHash>& hashes,
                                     uint64_t page_size = 4096) {
  for (const ContentHash& h : hashes) {
    std::vector<uint8_t> bytes(h.count * page_size);
    ASSERT_EQ(
        ::pread(fd, bytes.data(), bytes.size(), static_cast<off_t>(h.first_index * page_size)),
        static_cast<ssize_t>(bytes.size()));
    EXPECT_EQ(h.xxh3, XXH3_64bits(bytes.data(), bytes.size())) << "pages from " << h.first_index;
  }
}

}  // namespace khod

#endif  // KHOD_TESTS_SUPPORT_CONTENT_HASHES_H_
