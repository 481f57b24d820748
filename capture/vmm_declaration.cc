#include "capture/vmm_declaration.h"

#include <algorithm>
#include <climits>
#include <utility>

#include "capture/json_reader.h"
#include "common/file_read.h"
#include "common/status_macros.h"

namespace khod {

namespace {

// A declaration lists slots and attribute ranges; a million ranges is tens of MiB.
constexpr size_t kMaxDeclarationBytes = 256u << 20;

// An fd number of the VMM: a larger value would wrap onto another fd.
Result<int> FdMember(const JsonValue& v, std::string_view key, const std::string& where) {
  auto fd = v.U64Member(key, where);
  if (!fd.ok()) return fd.status();
  if (*fd > INT_MAX)
    return Status::InvalidArgument(where + "." + std::string(key) + ": " + std::to_string(*fd) +
                                   " is not an fd number");
  return static_cast<int>(*fd);
}

Status ParseFiles(const JsonValue& files, VmmDeclaration* decl) {
  if (!files.is_array()) return Status::InvalidArgument("\"files\" must be an array");
  for (size_t i = 0; i < files.array().size(); ++i) {
    const JsonValue& f = files.array()[i];
    const std::string where = "files[" + std::to_string(i) + "]";
    if (!f.is_object()) return Status::InvalidArgument(where + ": expected an object");
    auto fd = FdMember(f, "fd", where);
    if (!fd.ok()) return fd.status();
    DeclaredFile& d = decl->files[*fd];
    if (const JsonValue* flags = f.Find("flags")) {
      auto v = flags->AsU64(where + ".flags");
      if (!v.ok()) return v.status();
      d.has_flags = true;
      d.flags = *v;
    }
    if (const JsonValue* name = f.Find("name")) {
      if (name->type() != JsonValue::Type::kString)
        return Status::InvalidArgument(where + ".name: expected a string");
      d.name = name->string();
    }
  }
  return Status::Ok();
}

Status ParseMemslot(const JsonValue& m, const std::string& where, DeclaredMemslot* out) {
  if (!m.is_object()) return Status::InvalidArgument(where + ": expected an object");
  auto slot = m.U64Member("slot", where);
  auto flags = m.U64Member("flags", where, uint64_t{4});  // KVM_MEM_GUEST_MEMFD
  auto gfn = m.U64Member("base_gfn", where);
  auto npages = m.U64Member("npages", where);
  auto uaddr = m.U64Member("userspace_addr", where, uint64_t{0});
  auto fd = FdMember(m, "gmem_fd", where);
  auto off = m.U64Member("gmem_offset", where, uint64_t{0});
  for (const Status& s : {slot.status(), flags.status(), gfn.status(), npages.status(),
                          uaddr.status(), fd.status(), off.status()})
    KHOD_RETURN_IF_ERROR(s);
  if (*slot > UINT32_MAX || *flags > UINT32_MAX)
    return Status::InvalidArgument(where + ": slot and flags are 32-bit");
  out->slot.slot = static_cast<uint32_t>(*slot);
  out->slot.flags = static_cast<uint32_t>(*flags);
  out->slot.base_gfn = *gfn;
  out->slot.npages = *npages;
  out->slot.userspace_addr = *uaddr;
  out->slot.gmem_offset = *off;
  out->gmem_fd = *fd;
  return Status::Ok();
}

Status ParseVms(const JsonValue& vms, VmmDeclaration* decl) {
  if (!vms.is_array()) return Status::InvalidArgument("\"vms\" must be an array");
  for (size_t i = 0; i < vms.array().size(); ++i) {
    const JsonValue& v = vms.array()[i];
    const std::string where = "vms[" + std::to_string(i) + "]";
    if (!v.is_object()) return Status::InvalidArgument(where + ": expected an object");
    DeclaredVm vm;
    auto token = v.U64Member("token", where, uint64_t{i + 1});
    auto type = v.U64Member("vm_type", where, uint64_t{0});
    if (!token.ok()) return token.status();
    if (!type.ok()) return type.status();
    if (*type > UINT32_MAX) return Status::InvalidArgument(where + ".vm_type: is 32-bit");
    vm.token = *token;
    vm.vm_type = static_cast<uint32_t>(*type);
    if (const JsonValue* slots = v.Find("memslots")) {
      if (!slots->is_array()) return Status::InvalidArgument(where + ".memslots must be an array");
      for (size_t j = 0; j < slots->array().size(); ++j) {
        DeclaredMemslot m;
        KHOD_RETURN_IF_ERROR(
            ParseMemslot(slots->array()[j], where + ".memslots[" + std::to_string(j) + "]", &m));
        vm.memslots.push_back(m);
      }
    }
    decl->vms.push_back(std::move(vm));
  }
  return Status::Ok();
}

Status ParseAttributes(const JsonValue& attrs, VmmDeclaration* decl) {
  if (!attrs.is_array()) return Status::InvalidArgument("\"attributes\" must be an array");
  for (size_t i = 0; i < attrs.array().size(); ++i) {
    const JsonValue& a = attrs.array()[i];
    const std::string where = "attributes[" + std::to_string(i) + "]";
    if (!a.is_object()) return Status::InvalidArgument(where + ": expected an object");
    auto fd = FdMember(a, "gmem_fd", where);
    auto first = a.U64Member("first", where);
    auto count = a.U64Member("count", where);
    auto value = a.U64Member("value", where);
    for (const Status& s : {fd.status(), first.status(), count.status(), value.status()})
      KHOD_RETURN_IF_ERROR(s);
    if (*count == 0) return Status::InvalidArgument(where + ": count is 0");
    if (*count > UINT64_MAX - *first)
      return Status::InvalidArgument(where + ": first + count overflows");
    decl->attributes[*fd].Set(*first, *count, *value);
  }
  return Status::Ok();
}

}  // namespace

Status ParseVmmDeclaration(const std::string& json, VmmDeclaration* decl) {
  auto doc = JsonValue::Parse(json);
  if (!doc.ok()) return doc.status();
  if (!doc->is_object()) return Status::InvalidArgument("declaration: expected a JSON object");
  if (const JsonValue* f = doc->Find("files")) KHOD_RETURN_IF_ERROR(ParseFiles(*f, decl));
  if (const JsonValue* v = doc->Find("vms")) KHOD_RETURN_IF_ERROR(ParseVms(*v, decl));
  if (const JsonValue* a = doc->Find("attributes")) KHOD_RETURN_IF_ERROR(ParseAttributes(*a, decl));
  return Status::Ok();
}

Status LoadVmmDeclaration(const std::string& path, VmmDeclaration* decl) {
  // Bounded: a directory, a FIFO, /dev/zero or a huge file is refused, not read forever.
  // Absent is NotFound, too large InvalidArgument (the operator named it).
  FileReadOptions o;
  o.max_bytes = kMaxDeclarationBytes;
  o.too_large_is_corruption = false;
  o.too_large_why = "more than any declaration needs";
  o.label = "declaration file ";
  o.follow_symlinks = true;  // khoctl reads it with the operator's rights
  Result<std::string> text = ReadWholeFile(path, o);
  if (!text.ok()) return text.status();
  return ParseVmmDeclaration(*text, decl).WithContext(path);
}

Status ValidateVmmDeclaration(const VmmDeclaration& decl,
                              const std::map<int, CapturedFileFacts>& files, uint32_t page_size) {
  std::vector<std::string> problems;
  struct Range {
    uint64_t begin, end;
    std::string who;
  };
  std::map<int, std::vector<Range>> by_file;       // byte ranges of each file
  // gfn ranges per (VM, address space); the whole 64-bit token keeps VMs apart.
  std::map<std::pair<uint64_t, uint32_t>, std::vector<Range>> by_space;
  for (const DeclaredVm& vm : decl.vms) {
    std::map<uint32_t, bool> ids;
    for (const DeclaredMemslot& d : vm.memslots) {
      const Memslot& m = d.slot;
      const std::string who = "vm " + std::to_string(vm.token) + " slot " + std::to_string(m.slot);
      if (ids[m.slot]) problems.push_back(who + ": slot id used twice");
      ids[m.slot] = true;
      auto f = files.find(d.gmem_fd);
      if (f == files.end()) {
        problems.push_back(who + ": gmem_fd " + std::to_string(d.gmem_fd) + " is not among the captured fds");
        continue;
      }
      if (m.npages == 0) problems.push_back(who + ": npages is 0");
      if (m.gmem_offset % f->second.page_size != 0)
        problems.push_back(who + ": gmem_offset " + std::to_string(m.gmem_offset) +
                           " not aligned to the file's page size " + std::to_string(f->second.page_size));
      if (m.npages > UINT64_MAX / page_size || m.base_gfn > UINT64_MAX - m.npages) {
        problems.push_back(who + ": npages " + std::to_string(m.npages) + " from gfn " +
                           std::to_string(m.base_gfn) + " overflows");
        continue;
      }
      const uint64_t bytes = m.npages * page_size;
      if (bytes % f->second.page_size != 0)
        problems.push_back(who + ": size " + std::to_string(bytes) + " not a multiple of the file's page size");
      if (m.gmem_offset > f->second.size || bytes > f->second.size - m.gmem_offset) {
        problems.push_back(who + ": " + std::to_string(bytes) + " bytes at offset " +
                           std::to_string(m.gmem_offset) + " is outside the file's " +
                           std::to_string(f->second.size) + " bytes");
        continue;  // its end may wrap: keep it out of the overlap checks
      }
      by_file[d.gmem_fd].push_back({m.gmem_offset, m.gmem_offset + bytes, who});
      by_space[{vm.token, m.slot >> 16}].push_back(
          {m.base_gfn, m.base_gfn + m.npages, who});
    }
  }
  auto overlaps = [&](std::vector<Range>& rs, const std::string& what) {
    std::sort(rs.begin(), rs.end(), [](const Range& a, const Range& b) { return a.begin < b.begin; });
    for (size_t i = 1; i < rs.size(); ++i)
      if (rs[i].begin < rs[i - 1].end)
        problems.push_back(rs[i - 1].who + " and " + rs[i].who + " overlap in " + what);
  };
  for (auto& [fd, rs] : by_file) overlaps(rs, "guest_memfd fd " + std::to_string(fd));
  for (auto& [space, rs] : by_space) overlaps(rs, "guest physical addresses");
  for (const auto& [fd, map] : decl.attributes) {
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
