// ReexecTransport: a userspace live update of khod itself. The old khod puts
// the blob in a sealed memfd, clears FD_CLOEXEC on it and on every gmem fd,
// and exec()s the new khod binary with `--adopt=blob:FD,TOKEN:FD,...`; the
// new khod finds them at the same fd numbers. Memory stays where it is
// because the files never close. It survives exec, not a crash of the new
// process (nothing but a kernel medium such as LUO survives that).
#ifndef KHOD_HANDOVER_REEXEC_TRANSPORT_H_
#define KHOD_HANDOVER_REEXEC_TRANSPORT_H_

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "common/unique_fd.h"
#include "handover/transport.h"

namespace khod {

// What `--adopt=` names: the blob memfd and token -> fd.
struct AdoptSpec {
  int blob_fd = -1;
  std::map<uint64_t, int> fds;
  bool empty() const { return blob_fd < 0 && fds.empty(); }
};

// "blob:5,1:7,2:8" <-> AdoptSpec. Refuses duplicates (a key, or an fd under
// two keys), fds 0-2, empty items (a trailing comma), non-numbers and numbers
// out of range (tokens past UINT64_MAX, fds past 9 digits).
Result<AdoptSpec> ParseAdoptSpec(const std::string& text);

// "1:9,1:10,2:11" <-> token -> the fds of its page pins (a reexec's
// --page-pins: io_uring rings, kernel/page_pin.h). A token may repeat (a
// file's pins take several rings); an fd, an empty item, a non-number or
// more than 65,536 items are refused.
Result<std::map<uint64_t, std::vector<int>>> ParsePagePinsSpec(const std::string& text);
std::string FormatPagePinsSpec(const std::map<uint64_t, std::vector<int>>& pins);

// "khod_vma_policy:9,khod_shared_policy:10" <-> program name -> the fd of the
// loaded BPF program a previous khod hands on (a reexec's --bpf-programs,
// kernel/bpf_program.h). A name is 1-64 of [A-Za-z0-9_]; a name or an fd
// given twice, an empty item or a non-number is refused. Whether each fd is
// that program is BpfProgram::Adopt's to say.
Result<std::map<std::string, int>> ParseBpfProgramsSpec(const std::string& text);
std::string FormatBpfProgramsSpec(const std::vector<std::pair<std::string, int>>& programs);

// An fd number given as `flag`'s value ("--listen-fd", "--adopt"): decimal
// digits only, at most 9 of them; anything else is refused naming `flag`.
Result<int> ParseFdNumber(const std::string& flag, const std::string& text);

// Test faults (--crash-at, --fault) are injected once, in the process they
// were given to: not passed on to the khod a reexec starts.
bool IsOneShotFaultFlag(const std::string& arg);
std::string FormatAdoptSpec(const AdoptSpec& spec);

class ReexecTransport : public HandoverTransport {
 public:
  // `adopted`: what this process received (empty on the old side).
  explicit ReexecTransport(AdoptSpec adopted = {}) : adopted_(std::move(adopted)) {}
  ~ReexecTransport() override;
  const char* name() const override { return "reexec"; }
  bool carries_fds() const override { return true; }
  // The sealed blob memfd, made ahead of Send (HandoverTransport::Stage),
  // or the copy given, sealed (HandoverTransport::StageCopy).
  Status Stage(std::string_view blob) override;
  Status StageCopy(BlobMemfd copy) override;
  Status Send(const HandoverPackage& pkg) override;
  // New side. Sets FD_CLOEXEC on every adopted fd first (B and each gmem
  // fd; a number that is not open is left alone), then requires B to be a
  // regular file sealed F_SEAL_WRITE|F_SEAL_GROW|F_SEAL_SHRINK (Corruption
  // naming the fd and the missing seals otherwise) and every gmem fd open
  // (NotFound otherwise), maps B read-only where it lies and closes it; the
  // gmem fds go to the caller. On failure nothing is handed out or closed:
  // this transport keeps every adopted fd it found open, close-on-exec, for
  // a retry, and closes them when it is destroyed.
  Result<ReceivedHandover> Receive() override;
  Status Abort() override;
  // The carried fds are the very files the old khod held: same inodes.
  bool keeps_inodes() const override { return true; }
  // After Send: {"--adopt=..."}, what the new khod finds at which fd.
  std::vector<std::string> ExecArguments() const override {
    return {"--adopt=" + FormatAdoptSpec(staged_)};
  }
  // The fds are only made inheritable: Receive finds them in the new process.
  bool sender_can_receive() const override { return false; }
  // Replaces this process with the program open on `program_fd`
  // (execveat(AT_EMPTY_PATH): the file opened at start-up, not whatever a
  // path names now); `argv[0]` only names it. Returns only on failure.
  static Status Exec(int program_fd, const std::vector<std::string>& argv);

 private:
  AdoptSpec adopted_;
  // The adopted fds a Receive found open (FD_CLOEXEC set) and has not handed
  // out: this transport's, closed by its destructor.
  std::vector<int> kept_;
  AdoptSpec staged_;  // fds made inheritable by Send, closed by Abort
  // Stage's sealed memfd (close-on-exec until Send takes it) and the size
  // of the blob copied into it.
  UniqueFd prestaged_blob_;
  size_t prestaged_bytes_ = 0;
};

}  // namespace khod

#endif  // KHOD_HANDOVER_REEXEC_TRANSPORT_H_
