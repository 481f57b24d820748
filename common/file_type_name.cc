#include "common/file_type_name.h"

#include <sys/stat.h>

#include <cstdio>

namespace khod {

std::string FileTypeName(mode_t mode) {
  if (S_ISREG(mode)) return "a regular file";
  if (S_ISDIR(mode)) return "a directory";
  // A named FIFO in a directory and an anonymous pipe's end are one type.
  if (S_ISFIFO(mode)) return "a FIFO or pipe";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISLNK(mode)) return "a symbolic link";
  char buf[32];
  std::snprintf(buf, sizeof buf, "a file of type 0%o", static_cast<unsigned>(mode & S_IFMT));
  return buf;
}

}  // namespace khod
