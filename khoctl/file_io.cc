#include "khoctl/file_io.h"

#include <cerrno>
#include <cstdio>

namespace khod {

Result<std::string> ReadWholeFile(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return Status::FromErrno("open " + path, errno);
  std::string data;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) data.append(buf, n);
  const bool failed = std::ferror(f);
  const int err = errno;
  std::fclose(f);
  if (failed) return Status::FromErrno("read " + path, err);
  return data;
}

Status WriteWholeFile(const std::string& path, const std::string& data) {
  const std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) return Status::FromErrno("create " + tmp, errno);
  const bool wrote = std::fwrite(data.data(), 1, data.size(), f) == data.size();
  const int write_err = errno;
  const bool closed = std::fclose(f) == 0;
  if (!wrote || !closed) {
    std::remove(tmp.c_str());
    return Status::FromErrno("write " + tmp, wrote ? errno : write_err);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    std::remove(tmp.c_str());
    return Status::FromErrno("rename " + tmp + " to " + path, err);
  }
  return Status::Ok();
}

}  // namespace khod
