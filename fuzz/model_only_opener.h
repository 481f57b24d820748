// The GmemOpener of khod's session (daemon/system_opener.h) without the
// kernel: MODEL guests are made and restored in a ModelKernel as khod makes
// them, while a VMM's pid and fd, an adopted fd and a rebuild are refused as
// for a VMM that has gone. What a fuzzer or a regression test hands a
// Session, so that a hostile record never takes another process's files.
#ifndef KHOD_FUZZ_MODEL_ONLY_OPENER_H_
#define KHOD_FUZZ_MODEL_ONLY_OPENER_H_

#include <memory>
#include <string>

#include "daemon/system_opener.h"
#include "restore/gmem_opener.h"

namespace khod {

class ModelOnlyOpener : public GmemOpener {
 public:
  Result<TakenFile> TakeFromProcess(int pid, int fd) override {
    return Status::NotFound("fd " + std::to_string(fd) + " of pid " + std::to_string(pid) +
                            " is not taken (no VMM here)");
  }
  Result<std::unique_ptr<GmemHandle>> FromTaken(const GmemDeclaration&,
                                                const TakenFile& taken) override {
    return Status::NotFound("fd " + std::to_string(taken.fd) + " of pid " +
                            std::to_string(taken.pid) + " is not taken (no VMM here)");
  }
  Result<std::unique_ptr<GmemHandle>> Adopt(const GmemDeclaration&, int fd) override {
    return Status::NotFound("fd " + std::to_string(fd) + " is not adopted (no handover here)");
  }
  Result<std::unique_ptr<GmemHandle>> NewModel(const GmemDeclaration& decl,
                                               const ModelSpec& spec) override {
    return system_.NewModel(decl, spec);
  }
  Result<std::unique_ptr<GmemHandle>> RestoreModel(const GuestMemfd& frozen) override {
    return system_.RestoreModel(frozen);
  }
  Result<std::unique_ptr<GmemHandle>> Rebuild(const GmemDeclaration&, const GuestMemfd&) override {
    return Status::Unsupported("no kernel object is rebuilt here");
  }

 private:
  SystemOpener system_{/*capture_threads=*/1};
};

}  // namespace khod

#endif  // KHOD_FUZZ_MODEL_ONLY_OPENER_H_
