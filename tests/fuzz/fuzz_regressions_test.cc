// Inputs the fuzzers (fuzz/) found, re-sealed so they pass the checksum and
// reach the code that failed: each must now be refused with a Status naming
// the problem (a snapshot blob by the decoder of its format and by DecodeAny;
// a LUO manifest by DecodeLuoManifest). The session record's:
// session_record_regressions_test.cc.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "handover/luo_transport.h"
#include "serializer/fdt_checksum.h"
#include "serializer/serializer.h"
#include "tests/support/fixture.h"

namespace khod {
namespace {

std::string ReadRegression(const std::string& name) {
  return ReadTestFile("tests/fuzz/regressions/" + name);
}

struct Regression {
  const char* file;
  BlobFormat format;
  const char* expected_message;  // part of the refusal
  bool seal = false;  // the fuzzer re-sealed the input (SealFdt) before it reached the bug
};

class FuzzRegression : public ::testing::TestWithParam<Regression> {};

TEST_P(FuzzRegression, RefusedWithAMessage) {
  const Regression& r = GetParam();
  std::string blob = ReadRegression(r.file);
  ASSERT_FALSE(blob.empty());
  if (r.seal) {
    ASSERT_TRUE(SealFdt(&blob).ok()) << r.file;
  }
  Snapshot snap;
  Status st = r.format == BlobFormat::kFdt ? DecodeFdt(blob, &snap) : DecodeProto(blob, &snap);
  EXPECT_EQ(st.code(), Status::Code::kCorruption) << st.ToString();
  EXPECT_NE(st.message().find(r.expected_message), std::string::npos) << st.ToString();
  Snapshot any;
  EXPECT_FALSE(DecodeAny(blob, &any).ok());
}

INSTANTIATE_TEST_SUITE_P(
    Found, FuzzRegression,
    ::testing::Values(
        // Folio order 134: the HugeTLB invariants shifted by it (UB) before refusing.
        Regression{"fdt_folio_order_134.fdt", BlobFormat::kFdt, "past size"},
        // Non-UTF-8 boot id: FDT accepted it, then its proto re-encoding did not decode.
        Regression{"fdt_boot_id_not_utf8.fdt", BlobFormat::kFdt, "boot id is not valid UTF-8"},
        // NUL in a gmem name: proto accepted it, the FDT encoder then refused it.
        Regression{"proto_gmem_name_nul.khodsnap", BlobFormat::kProto, "name contains a NUL byte"},
        // libfdt 1.6.1's fdt_check_full() dereferenced NULL on this blob (SIGSEGV).
        Regression{"fdt_check_full_segv.fdt", BlobFormat::kFdt,
                   "fdt: bad structure: header version 15"},
        // libfdt 1.6.1's fdt_check_full() never returned on this blob.
        Regression{"fdt_check_full_hang.fdt", BlobFormat::kFdt,
                   "property value of 4294967284 bytes runs past"},
        // A folio order of 64: the visibility check shifted by it (UBSan) after CheckFolios
        // had already refused the order.
        Regression{"fdt_folio_order_64_visibility.fdt", BlobFormat::kFdt, "order 64 above", true}));

// A manifest listing gmem token 1 twice: Receive retrieved it twice and kept
// one fd of the two (the other leaked).
TEST(LuoManifestRegression, ATokenListedTwiceIsRefused) {
  std::vector<uint64_t> tokens;
  std::string blob;
  const Status st =
      DecodeLuoManifest(ReadRegression("luo_manifest_token_twice.luo"), &tokens, &blob);
  EXPECT_EQ(st.code(), Status::Code::kCorruption) << st.ToString();
  EXPECT_NE(st.message().find("lists gmem token 1 twice"), std::string::npos) << st.ToString();
}

// A manifest listing the blob memfd's own token (KHODBLOB) as a gmem: Receive
// handed the blob memfd out as that gmem's file.
TEST(LuoManifestRegression, TheBlobsOwnTokenAsAGmemIsRefused) {
  std::vector<uint64_t> tokens;
  std::string blob;
  const Status st =
      DecodeLuoManifest(ReadRegression("luo_manifest_blob_token.luo"), &tokens, &blob);
  EXPECT_EQ(st.code(), Status::Code::kCorruption) << st.ToString();
  EXPECT_NE(st.message().find("the blob memfd's own token"), std::string::npos) << st.ToString();
}

}  // namespace
}  // namespace khod
