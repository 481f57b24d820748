#include "common/safe_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <vector>

#include "common/atomic_file.h"
#include "common/status_macros.h"
#include "common/unique_fd.h"

namespace khod {
namespace {

// mkdirat `name` in `at` and fsync `at`, so that the new entry survives a
// crash: a record written into the directory next may name it. When the
// fsync fails the directory is removed again (nothing was put in it yet) and
// the error returned: no caller is left holding a directory it cannot tell
// it made. `made`: false when it was there already (EEXIST, not an error).
Status MakeDirDurably(int at, const std::string& name, const std::string& named, mode_t mode,
                      bool* made) {
  *made = false;
  if (::mkdirat(at, name.c_str(), mode) != 0) {
    if (errno == EEXIST) return Status::Ok();
    return Status::FromErrno("mkdir " + named, errno);
  }
  if (::fsync(at) != 0) {
    const int err = errno;
    ::unlinkat(at, name.c_str(), AT_REMOVEDIR);
    return Status::FromErrno(
        "fsync the directory holding " + named + " once it was made (it was removed again)", err);
  }
  *made = true;
  return Status::Ok();
}

// mkdirat (unless mode is 0, durably: MakeDirDurably) + open of one
// directory; absent is an error. `created`, when given: whether this call
// made the directory.
Result<int> OpenDirAt(int at, const std::string& name, const std::string& named, mode_t mode,
                      bool* created = nullptr) {
  bool made = false;
  if (created) *created = false;
  if (mode != 0) KHOD_RETURN_IF_ERROR(MakeDirDurably(at, name, named, mode, &made));
  if (created) *created = made;
  const int fd = ::openat(at, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd >= 0) return fd;
  const int err = errno;
  struct stat st;
  if (::fstatat(at, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
    if (S_ISLNK(st.st_mode))
      return Status::FailedPrecondition(named +
                                        " is a symbolic link: khod writes only into a "
                                        "directory it opens without following links");
    if (!S_ISDIR(st.st_mode)) return Status::FailedPrecondition(named + " is not a directory");
  }
  return Status::FromErrno("open directory " + named, err);
}

bool TrustedOwner(uid_t uid) { return uid == 0 || uid == ::geteuid(); }

std::vector<std::string> Components(const std::string& path) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= path.size()) {
    const size_t slash = std::min(path.find('/', pos), path.size());
    if (slash > pos) out.push_back(path.substr(pos, slash - pos));
    pos = slash + 1;
  }
  return out;
}

// Opens the directory `path` names (WalkPath) and refuses it unless every
// directory passed through is owned by root or khod's euid and writable by
// no one else, or sticky (where others may add entries but not rename or
// remove root's). A symlink passed through is followed when root or khod's
// euid owns it (in a checked directory only they could have put it there,
// or, sticky, only they can change it). So no other user can swap the
// directory khod ends in, at start-up or later. Missing directories are
// created 0755 when `create` is set.
Result<int> OpenTrustedDir(const std::string& path, bool create) {
  PathWalkRules rules;
  rules.create_dirs = create;
  rules.check_dir = [](int fd, const std::string& named) -> Status {
    struct stat st;
    if (::fstat(fd, &st) != 0) return Status::FromErrno("stat " + named, errno);
    if (!TrustedOwner(st.st_uid))
      return Status::FailedPrecondition(named + " (above the directory) is owned by uid " +
                                        std::to_string(st.st_uid) +
                                        ": its owner could swap what lies beneath it");
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX))
      return Status::FailedPrecondition(named + " (above the directory) is writable by " +
                                        ((st.st_mode & S_IWOTH) ? "others" : "its group") +
                                        " and not sticky: they could swap what lies beneath it");
    return Status::Ok();
  };
  KHOD_ASSIGN_OR_RETURN(PathWalkEnd end, WalkPath(path, rules));
  return end.dir.release();
}

}  // namespace

Result<PathWalkEnd> WalkPath(const std::string& path, const PathWalkRules& rules) {
  std::string abs = path;
  if (abs.empty() || abs[0] != '/') {
    char cwd[PATH_MAX];
    if (::getcwd(cwd, sizeof(cwd)) == nullptr) return Status::FromErrno("getcwd", errno);
    abs = std::string(cwd) + "/" + abs;
  }
  std::vector<std::string> todo = Components(abs);
  // "d/" names the directory d, never a file d to write.
  if (rules.last_is_name && abs.back() == '/') todo.push_back(".");
  std::reverse(todo.begin(), todo.end());  // next component at the back
  std::vector<UniqueFd> stack;
  std::vector<std::string> shown{""};  // the resolved path of each stack entry
  auto open_root = [&]() -> Status {
    stack.clear();
    shown.assign(1, "");
    UniqueFd root(::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!root.valid()) return Status::FromErrno("open directory /", errno);
    if (rules.check_dir) KHOD_RETURN_IF_ERROR(rules.check_dir(root.get(), "/"));
    stack.push_back(std::move(root));
    return Status::Ok();
  };
  auto end_here = [&](std::string name) -> PathWalkEnd {
    PathWalkEnd end;
    end.dir = std::move(stack.back());
    end.dir_path = shown.back().empty() ? "/" : shown.back();
    end.name = std::move(name);
    return end;
  };
  KHOD_RETURN_IF_ERROR(open_root());
  int links = 0;
  while (!todo.empty()) {
    const std::string comp = std::move(todo.back());
    todo.pop_back();
    if (comp == ".") continue;
    if (comp == "..") {
      if (stack.size() > 1) {
        stack.pop_back();
        shown.pop_back();
      }
      continue;
    }
    const bool last = rules.last_is_name && todo.empty();
    const int at = stack.back().get();
    const std::string named = shown.back() + "/" + comp;
    struct stat st;
    if (::fstatat(at, comp.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT && last) return end_here(comp);  // a new file
      if (errno != ENOENT || !rules.create_dirs) return Status::FromErrno("stat " + named, errno);
      bool made = false;
      KHOD_RETURN_IF_ERROR(MakeDirDurably(at, comp, named, 0755, &made));
      if (::fstatat(at, comp.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
        return Status::FromErrno("stat " + named, errno);
    }
    if (S_ISLNK(st.st_mode)) {
      if (++links > 40) return Status::FromErrno("resolve " + path, ELOOP);
      char target[PATH_MAX];
      const ssize_t n = ::readlinkat(at, comp.c_str(), target, sizeof(target) - 1);
      if (n < 0) return Status::FromErrno("readlink " + named, errno);
      const std::string t(target, static_cast<size_t>(n));
      if (!TrustedOwner(st.st_uid)) {
        if (rules.refuse_link) return rules.refuse_link(named, st.st_uid, t);
        return Status::FailedPrecondition(named + " is a symbolic link owned by uid " +
                                          std::to_string(st.st_uid) +
                                          ": its owner could point it anywhere");
      }
      if (last && rules.end_on_link && rules.end_on_link(at, comp)) return end_here(comp);
      std::vector<std::string> more = Components(t);
      // A link to "d/" names a directory, as "d/" does.
      if (last && !t.empty() && t.back() == '/') more.push_back(".");
      todo.insert(todo.end(), more.rbegin(), more.rend());
      if (!t.empty() && t[0] == '/') KHOD_RETURN_IF_ERROR(open_root());
      continue;
    }
    if (last) return end_here(comp);
    UniqueFd fd(::openat(at, comp.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd.valid()) return Status::FromErrno("open directory " + named, errno);
    if (rules.check_dir) KHOD_RETURN_IF_ERROR(rules.check_dir(fd.get(), named));
    stack.push_back(std::move(fd));
    shown.push_back(named);
  }
  return end_here(rules.last_is_name ? "." : "");
}

Status CheckFileName(std::string_view name, const std::string& what) {
  const std::string shown = what + " '" + std::string(name.substr(0, name.find('\0'))) + "'";
  if (name.empty()) return Status::InvalidArgument(what + " is empty");
  if (name.find('\0') != std::string_view::npos)
    return Status::InvalidArgument(shown + " contains a NUL byte");
  if (name == "." || name == "..") return Status::InvalidArgument(shown + " is not a name");
  if (name.find('/') != std::string_view::npos)
    return Status::InvalidArgument(shown + " contains '/': a name, not a path, is expected");
  if (name.size() > 255) return Status::InvalidArgument(what + " is longer than 255 bytes");
  return Status::Ok();
}

Result<SafeDir> SafeDir::Check(int fd, std::string path) {
  SafeDir d;
  d.path_ = std::move(path);
  d.fd_ = std::shared_ptr<const int>(new int(fd), [](const int* p) {
    ::close(*p);
    delete p;
  });
  struct stat st;
  if (::fstat(fd, &st) != 0) return Status::FromErrno("stat " + d.path_, errno);
  if (st.st_uid != ::geteuid())
    return Status::FailedPrecondition(d.path_ + " is owned by uid " + std::to_string(st.st_uid) +
                                      ", not by khod's uid " + std::to_string(::geteuid()) +
                                      ": its owner could plant links or files in it");
  if (st.st_mode & (S_IWGRP | S_IWOTH))
    return Status::FailedPrecondition(
        d.path_ + " is writable by " + ((st.st_mode & S_IWOTH) ? "others" : "its group") +
        " (mode " + std::to_string((st.st_mode >> 6) & 7) + std::to_string((st.st_mode >> 3) & 7) +
        std::to_string(st.st_mode & 7) + "): they could plant links or files in it");
  return d;
}

Result<SafeDir> SafeDir::Open(const std::string& path, mode_t create_mode) {
  if (path.empty()) return Status::InvalidArgument("empty directory path");
  std::string trimmed = path;
  while (trimmed.size() > 1 && trimmed.back() == '/') trimmed.pop_back();
  const size_t slash = trimmed.rfind('/');
  std::string parent = slash == std::string::npos ? "."
                       : slash == 0               ? "/"
                                                  : trimmed.substr(0, slash);
  std::string last = slash == std::string::npos ? trimmed : trimmed.substr(slash + 1);
  if (trimmed == "/") {
    parent = "/";
    last = ".";
  }
  KHOD_ASSIGN_OR_RETURN(const int at, OpenTrustedDir(parent, create_mode != 0));
  Result<int> fd = OpenDirAt(at, last, trimmed, create_mode);
  ::close(at);
  if (!fd.ok()) return fd.status();
  return Check(*fd, trimmed);
}

Result<SafeDir> SafeDir::OpenSub(std::string_view name, mode_t create_mode, bool* created) const {
  KHOD_RETURN_IF_ERROR(CheckFileName(name, "directory name"));
  KHOD_ASSIGN_OR_RETURN(int sub,
                        OpenDirAt(fd(), std::string(name), PathOf(name), create_mode, created));
  return Check(sub, PathOf(name));
}

Result<UniqueFd> SafeDir::CreateNew(std::string_view name, mode_t mode) const {
  KHOD_RETURN_IF_ERROR(CheckFileName(name, "file name"));
  const std::string n(name), named = PathOf(name);
  // A leftover (a crash's, or a planted link) goes first: unlinkat removes
  // the entry itself, and O_EXCL then fails rather than follow anything.
  if (::unlinkat(fd(), n.c_str(), 0) != 0 && errno != ENOENT)
    return Status::FromErrno("remove leftover " + named, errno);
  UniqueFd f(::openat(fd(), n.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!f.valid()) return Status::FromErrno("create " + named, errno);
  if (::fchmod(f.get(), mode) != 0) {
    const int err = errno;
    ::unlinkat(fd(), n.c_str(), 0);
    return Status::FromErrno("chmod " + named, err);
  }
  return f;
}

Status SafeDir::WriteNew(std::string_view name, std::string_view data, mode_t mode) const {
  KHOD_ASSIGN_OR_RETURN(UniqueFd f, CreateNew(name, mode));
  Status s = WriteSyncClose(f.release(), data, PathOf(name));
  if (!s.ok()) ::unlinkat(fd(), std::string(name).c_str(), 0);
  return s;
}

Status SafeDir::Rename(std::string_view from, std::string_view to) const {
  KHOD_RETURN_IF_ERROR(CheckFileName(from, "file name"));
  KHOD_RETURN_IF_ERROR(CheckFileName(to, "file name"));
  if (::renameat(fd(), std::string(from).c_str(), fd(), std::string(to).c_str()) != 0)
    return Status::FromErrno("rename " + PathOf(from) + " to " + std::string(to), errno);
  return Status::Ok();
}

Status SafeDir::Replace(std::string_view name, std::string_view data, mode_t mode) const {
  KHOD_RETURN_IF_ERROR(CheckFileName(name, "file name"));
  const std::string n(name), tmp = n + ".tmp";
  KHOD_RETURN_IF_ERROR(WriteNew(tmp, data, mode));  // written and fsync'd, or removed
  return RenameDurably(fd(), path_, tmp, n);
}

Result<std::string> SafeDir::Read(std::string_view name, const FileReadOptions& opts) const {
  KHOD_RETURN_IF_ERROR(CheckFileName(name, "file name"));
  FileReadOptions o = opts;
  o.follow_symlinks = false;
  return ReadWholeFileAt(fd(), std::string(name), PathOf(name), o);
}

Status SafeDir::Remove(std::string_view name) const {
  KHOD_RETURN_IF_ERROR(CheckFileName(name, "file name"));
  if (::unlinkat(fd(), std::string(name).c_str(), 0) != 0 && errno != ENOENT)
    return Status::FromErrno("unlink " + PathOf(name), errno);
  return Status::Ok();
}

Status SafeDir::Sync() const {
  if (::fsync(fd()) != 0) return Status::FromErrno("fsync dir " + path_, errno);
  return Status::Ok();
}

Status MakeDirs(const std::string& path, unsigned mode) {
  if (path.empty()) return Status::InvalidArgument("empty directory path");
  std::string cur;
  size_t pos = 0;
  while (pos != std::string::npos) {
    size_t next = path.find('/', pos + 1);
    cur = path.substr(0, next);
    pos = next;
    if (cur.empty() || cur == "/") continue;
    if (::mkdir(cur.c_str(), mode) != 0 && errno != EEXIST)
      return Status::FromErrno("mkdir " + cur, errno);
  }
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return Status::FromErrno("stat " + path, errno);
  if (!S_ISDIR(st.st_mode)) return Status::FailedPrecondition(path + " is not a directory");
  return Status::Ok();
}

}  // namespace khod
