#include "kernel/file_mappings.h"

#include <sys/sysmacros.h>
#include <unistd.h>

#include <map>
#include <string>

#include "common/file_read.h"
#include "common/hex.h"
#include "common/status_macros.h"
#include "kernel/numa_maps.h"
#include "kernel/proc_maps.h"

namespace khod {

namespace {

// A process with a million mappings has 100 MB of maps; far above any VMM.
constexpr uint64_t kMaxProcTextBytes = uint64_t{256} << 20;
constexpr int kReadAttempts = 4;

template <typename Fn>
Status ForEachLine(std::string_view text, Fn fn) {
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (!line.empty()) KHOD_RETURN_IF_ERROR(fn(line));
  }
  return Status::Ok();
}

}  // namespace

Result<std::vector<FileMapping>> JoinFileMappings(std::string_view maps, std::string_view numa_maps,
                                                  FileKey file, uint64_t page_size) {
  std::vector<FileMapping> out;
  KHOD_RETURN_IF_ERROR(ForEachLine(maps, [&](std::string_view line) -> Status {
    KHOD_ASSIGN_OR_RETURN(ProcMapsEntry e, ParseProcMapsLine(line));
    if (e.inode != file.inode || makedev(e.dev_major, e.dev_minor) != file.dev) return Status::Ok();
    if (e.offset % page_size != 0 || (e.end - e.start) % page_size != 0)
      return Status::InvalidArgument("maps line '" + std::string(line.substr(0, 120)) +
                                     "' is not page aligned");
    FileMapping m;
    m.start = e.start;
    m.end = e.end;
    m.first_index = e.offset / page_size;
    m.count = (e.end - e.start) / page_size;
    m.shared = e.shared();
    out.push_back(std::move(m));
    return Status::Ok();
  }));
  if (out.empty()) return out;
  std::map<uint64_t, Mempolicy> policy_at;
  KHOD_RETURN_IF_ERROR(ForEachLine(numa_maps, [&](std::string_view line) -> Status {
    KHOD_ASSIGN_OR_RETURN(NumaMapsEntry e, ParseNumaMapsLine(line));
    policy_at[e.start] = std::move(e.policy);
    return Status::Ok();
  }));
  for (FileMapping& m : out) {
    auto it = policy_at.find(m.start);
    if (it == policy_at.end())
      return Status::NotFound("the mapping at " + Hex(m.start) +
                              " has no numa_maps line (the mappings changed while read)");
    m.policy = it->second;
  }
  return out;
}

Result<std::vector<FileMapping>> ReadFileMappings(pid_t pid, FileKey file, uint64_t page_size) {
  ProcessMappingsCache once;
  return once.Get(pid, file, page_size);
}

Result<std::vector<FileMapping>> ProcessMappingsCache::Get(pid_t pid, FileKey file,
                                                           uint64_t page_size) {
  const std::string proc = "/proc/" + std::to_string(pid);
  FileReadOptions o;
  o.max_bytes = kMaxProcTextBytes;
  o.too_large_is_corruption = false;
  o.too_large_why = "more mappings than any VMM has";
  Texts* texts;
  {
    std::lock_guard<std::mutex> l(mu_);
    std::unique_ptr<Texts>& t = texts_[pid];
    if (!t) t = std::make_unique<Texts>();
    texts = t.get();
  }
  std::lock_guard<std::mutex> l(texts->mu);
  if (texts->read) {
    Result<std::vector<FileMapping>> joined =
        JoinFileMappings(texts->maps, texts->numa_maps, file, page_size);
    if (joined.ok() || joined.status().code() != Status::Code::kNotFound) return joined;
    texts->read = false;  // changed since read: read again
  }
  Status last;
  for (int attempt = 0; attempt < kReadAttempts; ++attempt) {
    KHOD_ASSIGN_OR_RETURN(std::string maps, ReadWholeFile(proc + "/maps", o));
    Result<std::string> numa = ReadWholeFile(proc + "/numa_maps", o);
    if (!numa.ok() && numa.status().code() == Status::Code::kNotFound &&
        ::access(proc.c_str(), F_OK) == 0)
      return Status::Unsupported(proc + "/numa_maps is missing (a kernel without CONFIG_NUMA)");
    if (!numa.ok()) return numa.status();
    ++reads_;
    Result<std::vector<FileMapping>> joined = JoinFileMappings(maps, *numa, file, page_size);
    if (joined.ok()) {
      texts->maps = std::move(maps);
      texts->numa_maps = std::move(*numa);
      texts->read = true;
    }
    if (joined.ok() || joined.status().code() != Status::Code::kNotFound) return joined;
    last = joined.status();
  }
  return last.WithContext(proc);
}

}  // namespace khod
