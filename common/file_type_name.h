// "a FIFO or pipe": what a file's type is called in messages that refuse a
// file for being the wrong kind (a read of a state file, a reexec's blob fd).
// One wording for every layer.
#ifndef KHOD_COMMON_FILE_TYPE_NAME_H_
#define KHOD_COMMON_FILE_TYPE_NAME_H_

#include <sys/types.h>

#include <string>

namespace khod {

// "a regular file", "a directory", "a FIFO or pipe", "a socket",
// "a character device", "a block device", "a symbolic link", or
// "a file of type 0NNNNNN" (st_mode & S_IFMT in octal) for any other.
std::string FileTypeName(mode_t mode);

}  // namespace khod

#endif  // KHOD_COMMON_FILE_TYPE_NAME_H_
