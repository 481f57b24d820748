#include "daemon/blob_names.h"

namespace khod {

namespace {
constexpr char kSuffix[] = ".blob";
}  // namespace

std::string BlobName(const std::string& kind, uint64_t generation) {
  return kind + "-" + std::to_string(generation) + kSuffix;
}

bool IsBlobNameOrNone(const std::string& name, const std::string& kind) {
  if (name.empty()) return true;
  const std::string prefix = kind + "-", suffix = kSuffix;
  if (name.size() <= prefix.size() + suffix.size() || name.rfind(prefix, 0) != 0 ||
      name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
    return false;
  return name.find_first_not_of("0123456789", prefix.size()) == name.size() - suffix.size();
}

bool IsSessionBlobName(const std::string& name) {
  return !name.empty() && (IsBlobNameOrNone(name, "prepared") || IsBlobNameOrNone(name, "frozen") ||
                           name == kFrozenDraftBlob);
}

}  // namespace khod
