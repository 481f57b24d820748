#include "handover/kho_debugfs.h"

#include <libfdt.h>
#include <sys/stat.h>

#include <cstring>
#include <string_view>

#include "common/bytes.h"
#include "common/file_read.h"
#include "common/hex.h"
#include "common/status_macros.h"
#include "serializer/fdt_structure.h"

namespace khod {
namespace {

// Corruption naming the magic when `data`, at least an FDT header long (a
// shorter one is CheckFdt's to name: truncated), does not start as an FDT.
Status CheckFdtMagic(std::string_view data) {
  if (data.size() < sizeof(fdt_header) || fdt_magic(data.data()) == FDT_MAGIC) return Status::Ok();
  return Status::Corruption("bad magic " + Hex(fdt_magic(data.data())) + " (an FDT starts with " +
                            Hex(FDT_MAGIC) + ")");
}

// KHO's FDTs are a page or a few; anything near 64 MiB is not one. A file is
// read no further than its header's totalsize (and kDeclaredSizeSlack); one
// that does not start as an FDT is refused from its head ("not an FDT: bad
// magic", naming the file), one shorter than a header is CheckFdt's to name.
// Absent is NotFound (no tree: an answer), too large Corruption.
FileReadOptions KhoFileRead() {
  FileReadOptions o;
  o.max_bytes = uint64_t{64} << 20;
  o.too_large_why = "not a KHO FDT";
  o.size_from_head = [](std::string_view head) -> Result<uint64_t> {
    if (head.size() < sizeof(fdt_header)) return uint64_t{head.size()};
    KHOD_RETURN_IF_ERROR(CheckFdtMagic(head).WithContext("not an FDT"));
    return uint64_t{fdt_totalsize(head.data())};
  };
  return o;
}

// A KHO ABI and the property its subsystem nodes carry the address in
// (include/linux/kho/abi/kexec_handover.h of each version).
struct KhoAbi {
  const char* compatible;
  const char* address_prop;
};
constexpr KhoAbi kKnownAbis[] = {{"kho-v1", "fdt"}, {"kho-v2", "preserved-data"}};

bool IsDir(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// Structural checks of an untrusted FDT, in the order that gives the most
// useful message; after them libfdt's accessors are safe on `data`. Returns
// the FDT's totalsize.
Result<uint32_t> CheckFdt(const std::string& data) {
  if (data.size() < sizeof(fdt_header))
    return Status::Corruption("truncated: " + std::to_string(data.size()) +
                              " bytes, an FDT header alone is " +
                              std::to_string(sizeof(fdt_header)));
  const void* fdt = data.data();
  KHOD_RETURN_IF_ERROR(CheckFdtMagic(data));
  int rc = fdt_check_header(fdt);
  if (rc != 0) return Status::Corruption(std::string("bad header: ") + fdt_strerror(rc));
  const uint32_t total = fdt_totalsize(fdt);
  if (total > data.size())
    return Status::Corruption("truncated: header says totalsize " + std::to_string(total) +
                              ", the file has " + std::to_string(data.size()) + " bytes");
  KHOD_RETURN_IF_ERROR(CheckFdtStructure(fdt).WithContext("malformed structure"));
  return total;
}

// First string of the node's `compatible`, "" when absent or not a string.
std::string CompatibleOf(const void* fdt, int node) {
  int len = 0;
  const char* p = static_cast<const char*>(fdt_getprop(fdt, node, "compatible", &len));
  if (!p || len <= 0 || ::memchr(p, '\0', static_cast<size_t>(len)) == nullptr) return "";
  return p;
}

void ReadSubtree(const std::string& in_dir, KhoSubtree* t) {
  // A hostile node name must not walk out of sub_fdts/.
  if (t->name.empty() || t->name == "." || t->name == ".." ||
      t->name.find('/') != std::string::npos) {
    t->problem = "node name is not a file name";
    return;
  }
  // kho-v2 also carries blobs that are no FDT: one is named from its head
  // (without the path, which the listing gives), not read.
  FileReadOptions o = KhoFileRead();
  o.check_head = [](std::string_view head) {
    return CheckFdtMagic(head).WithContext("not an FDT");
  };
  Result<std::string> blob = ReadWholeFile(in_dir + "/sub_fdts/" + t->name, o);
  if (!blob.ok()) {
    if (blob.status().code() == Status::Code::kNotFound) return;
    t->exposed = true;  // there, but not read whole
    t->problem = blob.status().message();
    return;
  }
  t->exposed = true;
  t->bytes = blob->size();
  Result<uint32_t> total = CheckFdt(*blob);
  if (!total.ok()) {
    t->problem = "not an FDT: " + total.status().message();
    return;
  }
  t->bytes = *total;
  t->compatible = CompatibleOf(blob->data(), 0);
}

}  // namespace

std::string KhoIncoming::Summary() const {
  if (!present)
    return "KHO incoming FDT: none (" + in_dir +
           " missing: no KHO kexec into this kernel, debugfs not mounted there, or no "
           "CONFIG_KEXEC_HANDOVER)";
  std::string s =
      "KHO incoming FDT: " + HumanBytes(fdt_bytes) + ", compatible " + compatible + ", sub-FDTs: ";
  if (subtrees.empty()) return s + "none";
  for (size_t i = 0; i < subtrees.size(); ++i) {
    const KhoSubtree& t = subtrees[i];
    std::string what;
    if (!t.has_address)
      what = "no address property";
    else if (!t.problem.empty())
      what = t.problem;
    else if (!t.exposed)
      what = "not in sub_fdts/";
    else
      what = (t.compatible.empty() ? "no compatible" : t.compatible) + ", " + HumanBytes(t.bytes);
    s += (i ? ", " : "") + t.name + " (" + what + ")";
  }
  return s;
}

Result<KhoIncoming> ReadKhoIncoming(const std::string& debugfs_root) {
  KhoIncoming in;
  in.in_dir = debugfs_root + "/kho/in";
  if (!IsDir(in.in_dir)) return in;
  in.present = true;
  const std::string path = in.in_dir + "/fdt";
  Result<std::string> fdt = ReadWholeFile(path, KhoFileRead());
  if (!fdt.ok()) {
    if (fdt.status().code() == Status::Code::kNotFound)
      return Status::Corruption(
          path + " is missing although " + in.in_dir +
          " exists: the kernel shows the incoming KHO tree without its root FDT");
    return fdt.status().WithContext("KHO incoming FDT");
  }
  Result<uint32_t> total = CheckFdt(*fdt);
  if (!total.ok()) return total.status().WithContext(path + ": KHO incoming FDT");
  in.fdt_bytes = *total;
  const void* root = fdt->data();
  in.compatible = CompatibleOf(root, 0);
  if (in.compatible.empty())
    return Status::Corruption(path +
                              ": KHO incoming FDT has no compatible on its root node "
                              "(KHO writes \"kho-v1\")");
  const KhoAbi* abi = nullptr;
  for (const KhoAbi& a : kKnownAbis)
    if (in.compatible == a.compatible) abi = &a;
  if (!abi) {
    if (in.compatible.rfind("kho-v", 0) == 0)
      return Status::Unsupported(path + ": KHO ABI \"" + in.compatible +
                                 "\" unknown to khod (it reads kho-v1 and kho-v2)");
    return Status::Corruption(path + ": root compatible \"" + in.compatible +
                              "\" is not KHO's (\"kho-v1\")");
  }
  int node;
  fdt_for_each_subnode(node, root, 0) {
    KhoSubtree t;
    int len = 0;
    const char* name = fdt_get_name(root, node, &len);
    if (name && len > 0) t.name.assign(name, static_cast<size_t>(len));
    t.has_address = fdt_getprop(root, node, abi->address_prop, &len) != nullptr && len == 8;
    if (t.has_address) ReadSubtree(in.in_dir, &t);
    in.subtrees.push_back(std::move(t));
  }
  return in;
}

Result<std::string> ReadKhoIncomingSubFdt(const std::string& debugfs_root,
                                          const std::string& name) {
  const std::string in = debugfs_root + "/kho/in";
  if (!IsDir(in))
    return Status::Unsupported(in +
                               " is missing: no incoming KHO state (kernel without "
                               "CONFIG_KEXEC_HANDOVER, debugfs not mounted, or no kexec)");
  const std::string path = in + "/sub_fdts/" + name;
  Result<std::string> fdt = ReadWholeFile(path, KhoFileRead());
  if (!fdt.ok()) return fdt.status().WithContext("KHO incoming sub-FDT");
  if (fdt->size() < 8 || fdt_magic(fdt->data()) != FDT_MAGIC)
    return Status::Corruption(path + ": not a flattened device tree (bad magic)");
  uint32_t total = fdt_totalsize(fdt->data());
  if (total > fdt->size())
    return Status::Corruption(path + ": FDT totalsize " + std::to_string(total) + " exceeds the " +
                              std::to_string(fdt->size()) + " bytes read");
  // A header whose sizes and offsets lie inside totalsize, or no FDT at all.
  if (total < sizeof(struct fdt_header))
    return Status::Corruption(path + ": FDT totalsize " + std::to_string(total) +
                              " is smaller than its header");
  if (const int err = fdt_check_header(fdt->data()); err != 0)
    return Status::Corruption(path + ": bad FDT header: " + fdt_strerror(err));
  // An untrusted tree: the caller's libfdt accessors may walk it only once the
  // structure walk has passed (docs/FORMAT.md "FDT structure rules").
  KHOD_RETURN_IF_ERROR(CheckFdtStructure(fdt->data()).WithContext(path + ": malformed structure"));
  fdt->resize(total);  // debugfs may expose the whole preserved page
  return fdt;
}

}  // namespace khod
