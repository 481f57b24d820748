// The model behind the same interfaces as the kernel: ModelSource captures a
// ModelGuestMemfd through GmemSource (the GuestMemfd it fills is the type a
// kernel capture fills, marked Provenance::kModel), and RestoreModel rebuilds
// a model guest_memfd from a snapshot, claiming back the exact PFNs it names
// (as KHO hands the same physical memory to the new kernel), so
// snapshot -> restore -> capture -> compare runs for model guests of any size.
#ifndef KHOD_MODEL_MODEL_SOURCE_H_
#define KHOD_MODEL_MODEL_SOURCE_H_

#include <memory>
#include <string>

#include "capture/gmem_source.h"
#include "model/model_gmem.h"

namespace khod {

class ModelSource : public GmemSource {
 public:
  explicit ModelSource(const ModelGuestMemfd* gmem) : gmem_(gmem) {}
  std::string Describe() const override { return gmem_->Describe(); }
  // The model holds no page contents: opts.hash_contents adds nothing, and
  // hashes carried over from a restored snapshot are returned as they were.
  Status Capture(const CaptureOptions& opts, GuestMemfd* out) override;

 private:
  const ModelGuestMemfd* gmem_;
};

// Rebuilds `g` in `kernel`. Refuses (Corruption) a snapshot that breaks an
// invariant, Unsupported for a file kind the model does not model, and
// FailedPrecondition when a PFN it names is not free in the model's pools.
// Restructure records come back as they were, in_progress included; hwpoison
// flags come back as a failure on the first page of each flagged folio.
// Extra references and userspace mappings are runtime state, not restored.
Result<std::unique_ptr<ModelGuestMemfd>> RestoreModel(ModelKernel* kernel, const GuestMemfd& g);

}  // namespace khod

#endif  // KHOD_MODEL_MODEL_SOURCE_H_
