// SystemOpener: the GmemOpener khod runs with. Kernel objects go through
// capture's KernelGmemSource (pidfd_getfd, identity check, capture by runs);
// model guests live in one ModelKernel owned here, so that a restore claims
// their PFNs back in the same model (model/model_source.h).
#ifndef KHOD_DAEMON_SYSTEM_OPENER_H_
#define KHOD_DAEMON_SYSTEM_OPENER_H_

#include <memory>

#include "model/model_kernel.h"
#include "restore/gmem_opener.h"

namespace khod {

class SystemOpener : public GmemOpener {
 public:
  // `capture_threads`: what each kernel source may use (0: the CPUs of the
  // affinity mask); `pin_movable`: KernelSourceOptions::pin_movable
  // (capture/kernel_source.h).
  explicit SystemOpener(int capture_threads = 0, bool pin_movable = false);
  ~SystemOpener() override;
  Result<TakenFile> TakeFromProcess(int pid, int fd) override;
  Result<std::unique_ptr<GmemHandle>> FromTaken(const GmemDeclaration& decl,
                                                const TakenFile& taken) override;
  Result<std::unique_ptr<GmemHandle>> Adopt(const GmemDeclaration& decl, int fd) override;
  Result<std::unique_ptr<GmemHandle>> NewModel(const GmemDeclaration& decl,
                                               const ModelSpec& spec) override;
  Result<std::unique_ptr<GmemHandle>> RestoreModel(const GuestMemfd& frozen) override;
  Result<std::unique_ptr<GmemHandle>> Rebuild(const GmemDeclaration& decl,
                                              const GuestMemfd& frozen) override;

 private:
  std::unique_ptr<ModelKernel> model_;
  int capture_threads_;
  bool pin_movable_;
};

}  // namespace khod

#endif  // KHOD_DAEMON_SYSTEM_OPENER_H_
