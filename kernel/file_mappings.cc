#include "kernel/file_mappings.h"

#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "common/hex.h"
#include "common/numbers.h"
#include "common/status_macros.h"
#include "common/text_lines.h"
#include "kernel/numa_maps.h"
#include "kernel/proc_maps.h"

namespace khod {

Result<ProcessMappings> ProcessMappings::Parse(std::string_view maps, std::string_view numa_maps) {
  KHOD_ASSIGN_OR_RETURN(ProcessMappings out, ParseMaps(maps));
  out.AddNumaMaps(numa_maps);
  return out;
}

Result<ProcessMappings> ProcessMappings::ParseMaps(std::string_view maps) {
  ProcessMappings out;
  KHOD_RETURN_IF_ERROR(
      ForEachLine(maps, [&](std::string_view line) { return out.AddMapsLine(line); }));
  return out;
}

Status ProcessMappings::AddMapsLine(std::string_view line) {
  KHOD_ASSIGN_OR_RETURN(ProcMapsFields e, ParseProcMapsFields(line));
  if (e.inode == 0) return Status::Ok();  // anonymous: no file's
  by_file_[{makedev(e.dev_major, e.dev_minor), e.inode}].push_back(
      Line{e.start, e.end, e.offset, e.shared});
  return Status::Ok();
}

ProcessMappings ProcessMappings::FromVmas(const std::vector<VmaPolicy>& vmas) {
  const uint64_t page = static_cast<uint64_t>(::getpagesize());  // vm_pgoff's unit
  ProcessMappings out;
  for (const VmaPolicy& v : vmas) {
    if (v.inode == 0) continue;  // anonymous: no file's, as ParseMaps skips it
    out.by_file_[{v.dev, v.inode}].push_back(Line{v.start, v.end, v.pgoff * page, v.shared});
    if (v.answered) {
      out.policy_at_[v.start] = v.policy;
      out.from_vma_at_.insert(v.start);
    } else {
      out.unanswered_at_.insert(v.start);
    }
  }
  return out;
}

void ProcessMappings::AddNumaMaps(std::string_view numa_maps) {
  if (by_file_.empty()) return;  // no file's mapping to give a policy to
  numa_status_ = Status::Ok();
  (void)ForEachLine(numa_maps, [&](std::string_view line) {
    AddNumaMapsLine(line);
    return numa_status_;
  });
}

void ProcessMappings::AddNumaMapsLine(std::string_view line) {
  // No file's mapping to give a policy to, or a malformed line read already.
  if (by_file_.empty() || !numa_status_.ok()) return;
  Result<NumaMapsEntry> e = ParseNumaMapsLine(line);
  std::string_view rest = line;
  if (!e.ok() && e.status().code() == Status::Code::kUnsupported)
    if (const std::optional<uint64_t> start = ConsumeHexU64(&rest)) {
      cut_at_[*start] = e.status().message();  // unknown for its file alone (Of)
      return;
    }
  if (!e.ok()) {
    numa_status_ = e.status();
    return;
  }
  // What a VMA gave stays: it was joined by range, file and offset, numa_maps by start alone.
  policy_at_.emplace(e->start, std::move(e->policy));
}

void ProcessMappings::AddVmaPolicies(const std::vector<VmaPolicy>& vmas) {
  const uint64_t page = static_cast<uint64_t>(::getpagesize());  // vm_pgoff's unit
  // Each file's lines as (start, end, offset), sorted, made when a VMA of the
  // file is first met: a VMA finds its line in O(log lines), where a scan of
  // them for each would cost a process with many mappings of one file their
  // square.
  using Range = std::tuple<uint64_t, uint64_t, uint64_t>;
  std::map<std::pair<uint64_t, uint64_t>, std::vector<Range>> ranges;
  for (const VmaPolicy& v : vmas) {
    if (v.inode == 0) continue;
    const std::pair<uint64_t, uint64_t> file{v.dev, v.inode};
    auto lines = by_file_.find(file);
    if (lines == by_file_.end()) continue;  // a file maps does not show
    auto [sorted, made] = ranges.try_emplace(file);
    if (made) {
      sorted->second.reserve(lines->second.size());
      for (const Line& l : lines->second) sorted->second.emplace_back(l.start, l.end, l.offset);
      std::sort(sorted->second.begin(), sorted->second.end());
    }
    if (!std::binary_search(sorted->second.begin(), sorted->second.end(),
                            Range{v.start, v.end, v.pgoff * page})) {
      vma_without_line_.insert(file);
      continue;
    }
    if (v.answered) {
      policy_at_[v.start] = v.policy;
      from_vma_at_.insert(v.start);
    } else
      unanswered_at_.insert(v.start);
  }
}

void ProcessMappings::KeepNumaMapsPoliciesUnchangedIn(const ProcessMappings& after) {
  for (const auto& [file, lines] : by_file_) {
    auto now = after.by_file_.find(file);
    if (now != after.by_file_.end() && lines == now->second) continue;
    for (const Line& l : lines)
      if (!from_vma_at_.count(l.start)) {
        policy_at_.erase(l.start);
        cut_at_.erase(l.start);
      }
  }
}

ProcessMappings::VmaAnswers ProcessMappings::VmaAnswersFor(FileKey file) const {
  auto it = by_file_.find({file.dev, file.inode});
  if (it == by_file_.end()) return VmaAnswers::kAll;
  if (vma_without_line_.count({file.dev, file.inode})) return VmaAnswers::kChanged;
  VmaAnswers answers = VmaAnswers::kAll;
  for (const Line& l : it->second)
    if (unanswered_at_.count(l.start))
      answers = VmaAnswers::kNumaMapsNeeded;
    else if (!policy_at_.count(l.start))
      return VmaAnswers::kChanged;
  return answers;
}

Result<std::vector<FileMapping>> ProcessMappings::Of(FileKey file, uint64_t page_size) const {
  std::vector<FileMapping> out;
  auto it = by_file_.find({file.dev, file.inode});
  if (it == by_file_.end()) return out;
  for (const Line& l : it->second)
    if (l.offset % page_size != 0 || (l.end - l.start) % page_size != 0)
      return Status::InvalidArgument("maps line " + Hex(l.start) + "-" + Hex(l.end) + " offset " +
                                     Hex(l.offset) + " is not page aligned");
  KHOD_RETURN_IF_ERROR(numa_status_);
  for (const Line& l : it->second) {
    auto p = policy_at_.find(l.start);
    if (p == policy_at_.end() && cut_at_.count(l.start))
      return Status::Unsupported("the mapping at " + Hex(l.start) + ": " + cut_at_.at(l.start));
    if (p == policy_at_.end())
      return Status::NotFound("the mapping at " + Hex(l.start) +
                              " has no numa_maps line (the mappings changed while read)");
    FileMapping m;
    m.start = l.start;
    m.end = l.end;
    m.first_index = l.offset / page_size;
    m.count = (l.end - l.start) / page_size;
    m.shared = l.shared;
    m.policy = p->second;
    out.push_back(std::move(m));
  }
  return out;
}

Result<std::vector<FileMapping>> JoinFileMappings(std::string_view maps, std::string_view numa_maps,
                                                  FileKey file, uint64_t page_size) {
  KHOD_ASSIGN_OR_RETURN(ProcessMappings parsed, ProcessMappings::Parse(maps, numa_maps));
  return parsed.Of(file, page_size);
}

Result<std::vector<FileMapping>> ReadFileMappings(pid_t pid, FileKey file, uint64_t page_size,
                                                  FileNaming naming) {
  ProcessMappingsCache once;
  return once.Get(pid, file, page_size, naming);
}

void ProcessMappingsCache::Held(const ProcTextRead& read) {
  uint64_t was = largest_text_held_.load();
  while (was < read.held && !largest_text_held_.compare_exchange_weak(was, read.held)) {
  }
}

Result<ProcTextRead> ProcessMappingsCache::ReadMaps(pid_t pid, ProcessMappings* parsed,
                                                    Status* parse_error) {
  *parse_error = Status::Ok();
  Result<ProcTextRead> read = ForEachProcTextLine(pid, "maps", [&](std::string_view line) {
    if (parse_error->ok()) *parse_error = parsed->AddMapsLine(line);
  });
  if (read.ok()) Held(*read);
  return read;
}

int ProcessMappingsCache::processes_through_numa_maps() const {
  std::lock_guard<std::mutex> l(mu_);
  return static_cast<int>(numa_pids_.size());
}

int ProcessMappingsCache::processes_from_vmas_only() const {
  std::lock_guard<std::mutex> l(mu_);
  int n = 0;
  for (pid_t pid : vma_pids_) n += numa_pids_.count(pid) == 0;
  return n;
}

Result<std::vector<FileMapping>> ProcessMappingsCache::AnsweredByVmas(pid_t pid, Process* process,
                                                                      ProcessMappings parsed,
                                                                      bool vmas_only, FileKey file,
                                                                      uint64_t page_size) {
  ++iterator_reads_;
  {
    std::lock_guard<std::mutex> counted(mu_);
    vma_pids_.insert(pid);
  }
  Result<std::vector<FileMapping>> mine = parsed.Of(file, page_size);
  process->parsed = std::move(parsed);
  process->with_policies = true;
  process->vmas_only = vmas_only;
  return mine;
}

Result<std::vector<FileMapping>> ProcessMappingsCache::Get(pid_t pid, FileKey file,
                                                           uint64_t page_size, FileNaming naming) {
  const std::string proc = "/proc/" + std::to_string(pid);
  Process* process;
  {
    std::lock_guard<std::mutex> l(mu_);
    std::unique_ptr<Process>& p = processes_[pid];
    if (!p) p = std::make_unique<Process>();
    process = p.get();
  }
  std::lock_guard<std::mutex> l(process->mu);
  // What the VMAs alone gave says nothing of a file they do not show (maps
  // is to say), unless its VMAs hold the file itself: it is not mapped.
  const bool unshown_by_vmas = process->parsed && process->vmas_only &&
                               !process->parsed->Maps(file) &&
                               naming == FileNaming::kMaybeAnotherInode;
  if (process->parsed && !unshown_by_vmas &&
      (process->with_policies || !process->parsed->Maps(file))) {
    Result<std::vector<FileMapping>> mine = process->parsed->Of(file, page_size);
    if (mine.ok() || mine.status().code() != Status::Code::kNotFound) return mine;
  }
  process->parsed.reset();  // changed since read, or read without its policies: read again
  const VmaPolicyReader* reader = Reader();
  Status gone;  // the reader's NotFound, said once maps tells it from an exited main thread
  if (reader && !unshown_by_vmas) {
    // The VMAs alone first: one consistent read (kernel/vma_policy.h) holds
    // every mapping of the process with its policy, with no maps text to
    // read and join.
    Result<std::vector<VmaPolicy>> vmas = reader->Read(pid);
    if (vmas.ok()) {
      ProcessMappings parsed = ProcessMappings::FromVmas(*vmas);
      // A file they do not show is not mapped where its VMAs would hold it
      // (maps names it by no other inode), and needs no maps text to say so.
      const bool answered = parsed.Maps(file)
                                ? parsed.VmaAnswersFor(file) == ProcessMappings::VmaAnswers::kAll
                                : naming == FileNaming::kItsOwnInode;
      if (answered)
        return AnsweredByVmas(pid, process, std::move(parsed), /*vmas_only=*/true, file, page_size);
      // A file the VMAs do not show (maps may name it by another inode), or a
      // mapping of it whose policy its vm_ops decide: maps and numa_maps below.
    } else if (vmas.status().code() == Status::Code::kNotFound) {
      gone = vmas.status();
    } else {
      reader = nullptr;  // the VMAs unreadable: numa_maps
    }
  }
  // Every attempt returns or sets it: never an OK status for the Result.
  Status last = Status::Busy("the mappings changed at every read");
  for (int attempt = 0; attempt < kReadAttempts; ++attempt) {
    ProcessMappings parsed;
    Status malformed;
    KHOD_ASSIGN_OR_RETURN(const ProcTextRead maps, ReadMaps(pid, &parsed, &malformed));
    ++reads_;
    // A live process maps something (its stack at least). An empty text is a
    // process that has exited, or whose main thread has while others run:
    // /proc/PID then shows no mapping of any file, which is not "none".
    if (maps.bytes == 0)
      return Status::Unsupported(proc +
                                 "/maps is empty: the process has exited, or its main thread "
                                 "has while its other threads run, and its mappings cannot be "
                                 "read there");
    if (!gone.ok()) return gone.WithContext(proc);
    KHOD_RETURN_IF_ERROR(malformed);
    // No mapping of the file: nothing numa_maps could add for it.
    if (!parsed.Maps(file)) {
      process->parsed = std::move(parsed);
      process->with_policies = process->vmas_only = false;
      return std::vector<FileMapping>();
    }
    if (reader) {
      // The VMAs' own policies, read after the maps text: a mapping that
      // changed in between has another range, file or offset, and gives none.
      Result<std::vector<VmaPolicy>> vmas = reader->Read(pid);
      if (vmas.ok()) {
        parsed.AddVmaPolicies(*vmas);
        const ProcessMappings::VmaAnswers answers = parsed.VmaAnswersFor(file);
        // Read both again; on the last try numa_maps joins by start, as
        // without a reader (a VMA whose file maps shows by another
        // inode, as a backing file's, never matches).
        if (answers == ProcessMappings::VmaAnswers::kChanged && attempt + 1 < kReadAttempts)
          continue;
        if (answers == ProcessMappings::VmaAnswers::kAll) {
          return AnsweredByVmas(pid, process, std::move(parsed), /*vmas_only=*/false, file,
                                page_size);
        }
      } else if (vmas.status().code() == Status::Code::kNotFound) {
        return vmas.status().WithContext(proc);
      }
      // A mapping whose policy its file decides, or the VMAs unreadable: numa_maps.
    }
    if (before_numa_maps_) before_numa_maps_();
    // Its policies joined with the maps read just before it as it is read (a
    // read that fails leaves `parsed` unused).
    Result<ProcTextRead> numa = ForEachProcTextLine(
        pid, "numa_maps", [&](std::string_view line) { parsed.AddNumaMapsLine(line); });
    if (!numa.ok() && numa.status().code() == Status::Code::kNotFound &&
        ::access(proc.c_str(), F_OK) == 0)
      return Status::Unsupported(proc + "/numa_maps is missing (a kernel without CONFIG_NUMA)");
    if (!numa.ok()) return numa.status();
    Held(*numa);
    ++numa_reads_;
    {
      std::lock_guard<std::mutex> counted(mu_);
      numa_pids_.insert(pid);
    }
    // numa_maps joins by start alone: only files whose mappings read the
    // same after it keep what it gave them (a text read the same drops none).
    ProcessMappings after;
    KHOD_RETURN_IF_ERROR(ReadMaps(pid, &after, &malformed).status());
    ++reads_;
    KHOD_RETURN_IF_ERROR(malformed);
    parsed.KeepNumaMapsPoliciesUnchangedIn(after);
    Result<std::vector<FileMapping>> mine = parsed.Of(file, page_size);
    // What was read answers the process's other files too (a cut policy or
    // a misaligned mapping is its own file's error); a missing line is not.
    if (mine.ok() || mine.status().code() != Status::Code::kNotFound) {
      process->parsed = std::move(parsed);
      process->with_policies = true;
      process->vmas_only = false;
      return mine;
    }
    last = mine.status();
  }
  return last.WithContext(proc);
}

}  // namespace khod
