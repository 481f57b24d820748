// The directories khod (root) writes into, and the files in them
// (docs/SECURITY.md "Files khod reads and writes"):
//  - a directory is opened O_DIRECTORY|O_NOFOLLOW and must be owned by khod's
//    euid and writable by no one else (no group/other write bit, sticky or
//    not): otherwise another user could plant a symlink or a forged file;
//  - a file in it is reached by a one-component name relative to that open
//    directory (openat, renameat, unlinkat), so nothing renamed or linked
//    along the path afterwards redirects it; a name is never a path;
//  - a file is created O_CREAT|O_EXCL|O_NOFOLLOW (a leftover of a crash is
//    unlinked first, which never follows a link) and read O_NOFOLLOW|
//    O_NONBLOCK as a regular file only, bounded (common/file_read.h).
// One-component names need no openat2(RESOLVE_BENEATH): there is no path
// inside them to escape through, and O_NOFOLLOW covers their one component.
#ifndef KHOD_COMMON_SAFE_FILE_H_
#define KHOD_COMMON_SAFE_FILE_H_

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/file_read.h"
#include "common/status.h"
#include "common/unique_fd.h"

namespace khod {

// How WalkPath treats what it passes through.
struct PathWalkRules {
  // Called on each directory the walk opens, "/" included, with its resolved
  // path; an error stops the walk. nullptr: no check (SafeDir::Open checks
  // owner and write bits).
  std::function<Status(int dir_fd, const std::string& named)> check_dir;
  // Missing directories are created 0755 (never the last component with
  // last_is_name), each made durable in its parent (the parent fsynced; a
  // failed fsync removes the one just made and stops the walk).
  bool create_dirs = false;
  // The last component is not opened: the walk ends in the directory that
  // holds it and gives its name (a file to write, absent or of any kind; "."
  // when the path ends in a directory: "/", "d/", "d/.."). A symlink there is
  // followed as any other, unless end_on_link says otherwise.
  bool last_is_name = false;
  // The Status refusing a symlink owned by another user than root or the
  // euid, given its resolved path, its owner and what it points at. nullptr:
  // FailedPrecondition "<named> is a symbolic link owned by uid N: its owner
  // could point it anywhere".
  std::function<Status(const std::string& named, uid_t owner, const std::string& target)>
      refuse_link;
  // With last_is_name, asked of a trusted symlink that is the last
  // component: true ends the walk on the link itself (the caller opens it)
  // instead of following its text. nullptr: never.
  std::function<bool(int dir_fd, const std::string& name)> end_on_link;
};

// Where WalkPath ended.
struct PathWalkEnd {
  UniqueFd dir;          // the last directory reached, open O_RDONLY|O_DIRECTORY
  std::string dir_path;  // its resolved path ("/" for the root)
  std::string name;      // last_is_name: the last component, in `dir`; otherwise empty
};

// Resolves `path` by hand, one component at a time from "/" (a relative path
// from the cwd's absolute path): each directory is opened
// O_DIRECTORY|O_NOFOLLOW relative to the one before, ".." goes back to the
// directory the walk came from, and a symlink met on the way (or as the last
// component) is followed by reading its text, only when root or the euid
// owns it; another user's link is refused (rules.refuse_link) before
// anything beyond it is opened. Nothing renamed or linked along the path
// afterwards changes the directory fd it gives. The one walk of paths khod
// does not own: SafeDir::Open (the state dir's parents) and khoctl's output
// path as root (khoctl/file_io.h).
Result<PathWalkEnd> WalkPath(const std::string& path, const PathWalkRules& rules);

// OK when `name` is one path component: not empty, not "." or "..", no '/',
// no NUL, at most 255 bytes; otherwise InvalidArgument "<what> '<name>' ...".
Status CheckFileName(std::string_view name, const std::string& what);

// An open directory khod writes into, checked. Copies share the one fd.
class SafeDir {
 public:
  SafeDir() = default;
  // Opens `path`, creating it with `create_mode` (and its missing parents,
  // 0755) when absent, each directory made durable in its parent (fsynced:
  // an error when that fails, the directory removed again); create_mode 0:
  // an absent directory is an error. FailedPrecondition naming
  // the path and what is wrong when its last component is a symlink or not a directory, when it is
  // not owned by khod's euid, or when group or others may write into it; and when a directory
  // above it is owned by another user than root or khod's euid, or writable by others and not
  // sticky, or a symlink on the way is another user's (the path is resolved by hand from "/").
  static Result<SafeDir> Open(const std::string& path, mode_t create_mode = 0700);
  // The directory `name` (CheckFileName) beneath this one, created with
  // `create_mode` when absent and made durable here (this directory fsynced;
  // when that fails, the new one is removed again and the error returned),
  // checked as Open checks; create_mode 0: absent is an error. `created`,
  // when given: whether this call made it.
  Result<SafeDir> OpenSub(std::string_view name, mode_t create_mode = 0700,
                          bool* created = nullptr) const;

  // Writes `data` to `name` created afresh (a leftover file of that name is
  // unlinked first; a directory there is an error) with exactly `mode` (the
  // umask does not apply) and fsyncs it; neither renames nor syncs the
  // directory. On failure nothing of it is left.
  Status WriteNew(std::string_view name, std::string_view data, mode_t mode = 0600) const;
  // `name` created afresh as WriteNew creates it, empty, open for reading and
  // writing: for a file khod writes more than once (common/patched_file.h).
  Result<UniqueFd> CreateNew(std::string_view name, mode_t mode = 0600) const;
  // renameat `from` to `to` in this directory; durable once the directory is
  // synced (Sync, or a Replace in it).
  Status Rename(std::string_view from, std::string_view to) const;
  // Atomic replace: writes "<name>.tmp" as WriteNew does, renames it over
  // `name` and fsyncs the directory, so a crash leaves the old or the new.
  // The file has its final mode before the rename: no reader ever sees
  // `name` with another.
  Status Replace(std::string_view name, std::string_view data, mode_t mode = 0600) const;
  // Bounded read of the regular file `name` (common/file_read.h); a symlink
  // or a FIFO there is refused.
  Result<std::string> Read(std::string_view name,
                           const FileReadOptions& opts = FileReadOptions()) const;
  // Unlinks `name` (never following it); absent is OK.
  Status Remove(std::string_view name) const;
  // fsync of the directory: entries created or removed are durable.
  Status Sync() const;

  bool valid() const { return fd_ != nullptr; }
  int fd() const { return fd_ ? *fd_ : -1; }
  const std::string& path() const { return path_; }
  std::string PathOf(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  static Result<SafeDir> Check(int fd, std::string path);
  std::string path_;
  std::shared_ptr<const int> fd_;
};

// mkdir -p with `mode` for the directories created; the result must be a
// directory (a symlink to one is accepted: callers that write into it open
// it with SafeDir).
Status MakeDirs(const std::string& path, unsigned mode);

}  // namespace khod

#endif  // KHOD_COMMON_SAFE_FILE_H_
