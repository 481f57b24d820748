#include "tests/support/kho_tree.h"

#include <gtest/gtest.h>
#include <libfdt.h>
#include <stdlib.h>

#include "daemon/record_file.h"

namespace khod {
namespace {

// Runs the sequential-write libfdt calls, failing the test on any error.
class FdtBuilder {
 public:
  FdtBuilder() : buf_(16384, '\0') {
    Check(fdt_create(buf_.data(), static_cast<int>(buf_.size())));
    Check(fdt_finish_reservemap(buf_.data()));
    Check(fdt_begin_node(buf_.data(), ""));
  }
  void Begin(const std::string& name) { Check(fdt_begin_node(buf_.data(), name.c_str())); }
  void End() { Check(fdt_end_node(buf_.data())); }
  void String(const char* name, const std::string& v) {
    Check(fdt_property_string(buf_.data(), name, v.c_str()));
  }
  // Native endianness, as KHO stores its properties.
  void U64(const std::string& name, uint64_t v) {
    Check(fdt_property(buf_.data(), name.c_str(), &v, sizeof(v)));
  }
  std::string Finish() {
    End();
    Check(fdt_finish(buf_.data()));
    buf_.resize(fdt_totalsize(buf_.data()));
    return buf_;
  }

 private:
  static void Check(int rc) { EXPECT_EQ(rc, 0) << fdt_strerror(rc); }
  std::string buf_;
};

}  // namespace

std::string KhoRootFdt(const std::string& compatible, const std::vector<KhoNode>& nodes) {
  FdtBuilder b;
  if (!compatible.empty()) b.String("compatible", compatible);
  b.U64("preserved-memory-map", 0x40be16000ull);
  for (const KhoNode& n : nodes) {
    b.Begin(n.name);
    if (!n.address_prop.empty()) b.U64(n.address_prop, n.address);
    b.End();
  }
  return b.Finish();
}

std::string LuoFdt(uint64_t liveupdate_number) {
  FdtBuilder b;
  b.String("compatible", "luo-v1");
  b.U64("liveupdate-number", liveupdate_number);
  b.Begin("luo-session");
  b.String("compatible", "luo-session-v1");
  b.U64("luo-session-header", 0x1234000ull);
  b.End();
  return b.Finish();
}

void WriteKhoIn(const std::string& root, const std::string& fdt,
                const std::vector<std::pair<std::string, std::string>>& sub_fdts) {
  ASSERT_TRUE(MakeDirs(root + "/kho/in/sub_fdts", 0700).ok());
  ASSERT_TRUE(WriteFileAtomically(root + "/kho/in/fdt", fdt).ok());
  for (const auto& [name, bytes] : sub_fdts)
    ASSERT_TRUE(WriteFileAtomically(root + "/kho/in/sub_fdts/" + name, bytes).ok());
}

}  // namespace khod
