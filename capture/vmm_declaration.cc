#include "capture/vmm_declaration.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "common/file_read.h"
#include "common/hex.h"
#include "common/numbers.h"
#include "common/status_macros.h"

namespace khod {

namespace {

constexpr uint32_t kMemGuestMemfd = 4;  // KVM_MEM_GUEST_MEMFD: a memslot's default flags

// `s` with every byte that is not printable ASCII as '?': it goes to a terminal.
std::string Printable(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) c = '?';
  return out;
}

// protobuf's parse error as one line naming the field: "(vms[0].token): invalid
// value ..." -> "vms[0].token: invalid value ...", "(files[0]) pid: Cannot find
// field." -> "files[0].pid: no such field". A syntax error keeps its first line
// (the rest quotes the input). Bytes that are not printable ASCII become '?'.
// Where protobuf's JSON parser put something it could not name: Debian's
// protobuf 3.21 accepts a nested key "" (`{"vms":[{"":[{}]}]}`) and keeps it
// as an unknown field instead of refusing it as it refuses any other unknown
// key. The path of the first message holding one, or "" when none does.
std::string UnknownFieldPath(const google::protobuf::Message& m, const std::string& at) {
  const google::protobuf::Reflection* r = m.GetReflection();
  if (r->GetUnknownFields(m).field_count() > 0) return at.empty() ? "the top level" : at;
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  r->ListFields(m, &fields);
  for (const google::protobuf::FieldDescriptor* f : fields) {
    if (f->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) continue;
    const std::string name = at.empty() ? f->name() : at + "." + f->name();
    if (f->is_repeated()) {
      for (int i = 0; i < r->FieldSize(m, f); ++i) {
        std::string p =
            UnknownFieldPath(r->GetRepeatedMessage(m, f, i), name + "[" + std::to_string(i) + "]");
        if (!p.empty()) return p;
      }
    } else {
      std::string p = UnknownFieldPath(r->GetMessage(m, f), name);
      if (!p.empty()) return p;
    }
  }
  return "";
}

std::string DescribeJsonError(std::string_view message) {
  std::string m(message.substr(0, message.find('\n')));
  if (!m.empty() && m[0] == '(') {
    const size_t close = m.find(')');
    if (close != std::string::npos) {
      std::string path = m.substr(1, close - 1);
      std::string rest = m.substr(close + 1);
      if (rest.rfind(": ", 0) == 0) {
        m = path + rest;
      } else if (rest.rfind(' ', 0) == 0) {
        m = path + "." + rest.substr(1);
      }
    }
  }
  const std::string kNoField = ": Cannot find field.";
  if (m.size() >= kNoField.size() &&
      m.compare(m.size() - kNoField.size(), kNoField.size(), kNoField) == 0)
    m = m.substr(0, m.size() - kNoField.size()) +
        ": no such field (proto/vmm_declaration.proto lists them)";
  return Printable(m);
}

Status Missing(const std::string& where, const char* field) {
  return Status::InvalidArgument(where + "." + field + ": missing (required)");
}

Status CheckFd(int32_t fd, const std::string& where) {
  if (fd < 0)
    return Status::InvalidArgument(where + ": " + std::to_string(fd) + " is not an fd number");
  return Status::Ok();
}

// Checks what protobuf cannot (required fields, fd numbers, addresses, wrapping
// ranges, an fd declared twice) and fills in the documented defaults.
Status CheckAndComplete(const v1::VmmDeclaration& before, v1::VmmDeclaration* d) {
  std::set<int> fds;
  for (const v1::DeclaredFile& f : before.files()) fds.insert(f.fd());
  for (int i = 0; i < d->files_size(); ++i) {
    const v1::DeclaredFile& f = d->files(i);
    const std::string where = "files[" + std::to_string(i) + "]";
    if (!f.has_fd()) return Missing(where, "fd");
    KHOD_RETURN_IF_ERROR(CheckFd(f.fd(), where + ".fd"));
    if (!fds.insert(f.fd()).second)
      return Status::InvalidArgument(where + ".fd: fd " + std::to_string(f.fd()) +
                                     " is declared twice");
  }
  for (int i = 0; i < d->vms_size(); ++i) {
    v1::DeclaredVm* vm = d->mutable_vms(i);
    const std::string where = "vms[" + std::to_string(i) + "]";
    if (!vm->has_token()) vm->set_token(static_cast<uint64_t>(i) + 1);
    for (int j = 0; j < vm->memslots_size(); ++j) {
      v1::DeclaredMemslot* m = vm->mutable_memslots(j);
      const std::string at = where + ".memslots[" + std::to_string(j) + "]";
      if (!m->has_slot()) return Missing(at, "slot");
      if (!m->has_base_gfn()) return Missing(at, "base_gfn");
      if (!m->has_npages()) return Missing(at, "npages");
      if (!m->has_gmem_fd()) return Missing(at, "gmem_fd");
      KHOD_RETURN_IF_ERROR(CheckFd(m->gmem_fd(), at + ".gmem_fd"));
      if (!m->has_flags()) m->set_flags(kMemGuestMemfd);
      if (!m->userspace_addr().empty() && !ParseU64DecimalOr0xHex(m->userspace_addr()))
        return Status::InvalidArgument(at + ".userspace_addr: '" + Printable(m->userspace_addr()) +
                                       "' is not \"0x\" and hex digits or decimal digits");
    }
  }
  for (int i = 0; i < d->attributes_size(); ++i) {
    const v1::DeclaredAttributes& a = d->attributes(i);
    const std::string where = "attributes[" + std::to_string(i) + "]";
    if (!a.has_gmem_fd()) return Missing(where, "gmem_fd");
    if (!a.has_first()) return Missing(where, "first");
    if (!a.has_count()) return Missing(where, "count");
    if (!a.has_value()) return Missing(where, "value");
    KHOD_RETURN_IF_ERROR(CheckFd(a.gmem_fd(), where + ".gmem_fd"));
    if (a.count() == 0) return Status::InvalidArgument(where + ": count is 0");
    if (a.count() > UINT64_MAX - a.first())
      return Status::InvalidArgument(where + ": first + count overflows");
  }
  return Status::Ok();
}

}  // namespace

Status ParseVmmDeclaration(std::string_view json, v1::VmmDeclaration* decl) {
  if (json.size() > kMaxDeclarationBytes)
    return Status::InvalidArgument("declaration: larger than " +
                                   std::to_string(kMaxDeclarationBytes) + " bytes");
  v1::VmmDeclaration parsed;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;  // a misspelt key is an error, never a silent default
  const auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), &parsed, options);
  if (!status.ok())
    return Status::InvalidArgument("declaration: " +
                                   DescribeJsonError(std::string(status.message())));
  const std::string unplaced = UnknownFieldPath(parsed, "");
  if (!unplaced.empty())
    return Status::InvalidArgument("declaration: " + unplaced +
                                   " has a key that names no field (an empty key?)");
  Status checked = CheckAndComplete(*decl, &parsed);
  if (!checked.ok()) return Status::InvalidArgument("declaration: " + checked.message());
  decl->MergeFrom(parsed);
  return Status::Ok();
}

Status LoadVmmDeclaration(const std::string& path, v1::VmmDeclaration* decl) {
  // Bounded: a directory, a FIFO, /dev/zero or a huge file is refused, not read forever.
  // Absent is NotFound, too large InvalidArgument (the operator named it).
  FileReadOptions o;
  o.max_bytes = kMaxDeclarationBytes;
  o.too_large_is_corruption = false;
  o.too_large_why = "more than any declaration needs";
  o.label = "declaration file ";
  o.follow_symlinks = true;  // khoctl reads it with the operator's rights
  KHOD_ASSIGN_OR_RETURN(std::string text, ReadWholeFile(path, o));
  return ParseVmmDeclaration(text, decl).WithContext(path);
}

const v1::DeclaredFile* FindDeclaredFile(const v1::VmmDeclaration& decl, int fd) {
  for (const v1::DeclaredFile& f : decl.files())
    if (f.fd() == fd) return &f;
  return nullptr;
}

AttributeMap DeclaredAttributesOf(const v1::VmmDeclaration& decl, int fd) {
  AttributeMap map;
  for (const v1::DeclaredAttributes& a : decl.attributes())
    if (a.gmem_fd() == fd) map.Set(a.first(), a.count(), a.value());
  return map;
}

Memslot MemslotOf(const v1::DeclaredMemslot& m) {
  Memslot s;
  s.slot = m.slot();
  s.flags = m.has_flags() ? m.flags() : kMemGuestMemfd;
  s.base_gfn = m.base_gfn();
  s.npages = m.npages();
  s.userspace_addr = ParseU64DecimalOr0xHex(m.userspace_addr()).value_or(0);
  s.gmem_offset = m.gmem_offset();
  return s;
}

v1::DeclaredMemslot DeclaredMemslotOf(const Memslot& m, int gmem_fd) {
  v1::DeclaredMemslot d;
  d.set_slot(m.slot);
  d.set_flags(m.flags);
  d.set_base_gfn(m.base_gfn);
  d.set_npages(m.npages);
  d.set_userspace_addr(Hex(m.userspace_addr));
  d.set_gmem_fd(gmem_fd);
  d.set_gmem_offset(m.gmem_offset);
  return d;
}

Status ValidateVmmDeclaration(const v1::VmmDeclaration& decl,
                              const std::map<int, CapturedFileFacts>& files, uint32_t page_size) {
  std::vector<std::string> problems;
  struct Range {
    uint64_t begin, end;
    std::string who;
  };
  std::map<int, std::vector<Range>> by_file;  // byte ranges of each file
  // gfn ranges per (VM, address space); the whole 64-bit token keeps VMs apart.
  std::map<std::pair<uint64_t, uint32_t>, std::vector<Range>> by_space;
  for (const v1::DeclaredVm& vm : decl.vms()) {
    std::map<uint32_t, bool> ids;
    for (const v1::DeclaredMemslot& d : vm.memslots()) {
      const Memslot m = MemslotOf(d);
      const std::string who =
          "vm " + std::to_string(vm.token()) + " slot " + std::to_string(m.slot);
      if (ids[m.slot]) problems.push_back(who + ": slot id used twice");
      ids[m.slot] = true;
      auto f = files.find(d.gmem_fd());
      if (f == files.end()) {
        problems.push_back(who + ": gmem_fd " + std::to_string(d.gmem_fd()) +
                           " is not among the captured fds");
        continue;
      }
      if (m.npages == 0) problems.push_back(who + ": npages is 0");
      if (m.gmem_offset % f->second.page_size != 0)
        problems.push_back(who + ": gmem_offset " + std::to_string(m.gmem_offset) +
                           " not aligned to the file's page size " +
                           std::to_string(f->second.page_size));
      if (m.npages > UINT64_MAX / page_size || m.base_gfn > UINT64_MAX - m.npages) {
        problems.push_back(who + ": npages " + std::to_string(m.npages) + " from gfn " +
                           std::to_string(m.base_gfn) + " overflows");
        continue;
      }
      const uint64_t bytes = m.npages * page_size;
      if (bytes % f->second.page_size != 0)
        problems.push_back(who + ": size " + std::to_string(bytes) +
                           " not a multiple of the file's page size");
      if (m.gmem_offset > f->second.size || bytes > f->second.size - m.gmem_offset) {
        problems.push_back(who + ": " + std::to_string(bytes) + " bytes at offset " +
                           std::to_string(m.gmem_offset) + " is outside the file's " +
                           std::to_string(f->second.size) + " bytes");
        continue;  // its end may wrap: keep it out of the overlap checks
      }
      by_file[d.gmem_fd()].push_back({m.gmem_offset, m.gmem_offset + bytes, who});
      by_space[{vm.token(), m.slot >> 16}].push_back({m.base_gfn, m.base_gfn + m.npages, who});
    }
  }
  auto overlaps = [&](std::vector<Range>& rs, const std::string& what) {
    std::sort(rs.begin(), rs.end(),
              [](const Range& a, const Range& b) { return a.begin < b.begin; });
    for (size_t i = 1; i < rs.size(); ++i)
      if (rs[i].begin < rs[i - 1].end)
        problems.push_back(rs[i - 1].who + " and " + rs[i].who + " overlap in " + what);
  };
  for (auto& [fd, rs] : by_file) overlaps(rs, "guest_memfd fd " + std::to_string(fd));
  for (auto& [space, rs] : by_space) overlaps(rs, "guest physical addresses");
  std::map<int, AttributeMap> attributes;  // by VMM fd, in one pass
  for (const v1::DeclaredAttributes& a : decl.attributes())
    attributes[a.gmem_fd()].Set(a.first(), a.count(), a.value());
  for (const auto& [fd, map] : attributes) {
    auto f = files.find(fd);
    if (f == files.end()) {
      problems.push_back("attributes for fd " + std::to_string(fd) + ", which is not captured");
      continue;
    }
    if (map.end() > f->second.size / page_size)
      problems.push_back("attributes of fd " + std::to_string(fd) + " reach page " +
                         std::to_string(map.end()) + ", past the file's end");
  }
  if (problems.empty()) return Status::Ok();
  std::string msg = "VMM declaration: ";
  for (size_t i = 0; i < problems.size(); ++i) msg += (i ? "; " : "") + problems[i];
  return Status::InvalidArgument(msg);
}

}  // namespace khod
