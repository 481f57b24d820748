// Whole-file reads and writes for blobs. Writes go to a temporary file that
// is renamed over the target, so a failed write never leaves half a blob.
#ifndef KHOD_KHOCTL_FILE_IO_H_
#define KHOD_KHOCTL_FILE_IO_H_

#include <string>

#include "common/status.h"

namespace khod {

Result<std::string> ReadWholeFile(const std::string& path);
Status WriteWholeFile(const std::string& path, const std::string& data);

}  // namespace khod

#endif  // KHOD_KHOCTL_FILE_IO_H_
