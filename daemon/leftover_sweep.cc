#include "daemon/leftover_sweep.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/unique_fd.h"
#include "daemon/blob_names.h"
#include "handover/dir_transport.h"

namespace khod {
namespace {

// What a killed khod leaves, and why removing it at start is safe.
//
// Every file below is written before the record that names it (Prepare,
// Freeze), or unlinked after the record that stops naming it (Prepare's
// replaced blob, Finish, Cancel, a recovery's rollback). A kill, crash or
// power loss at any instant therefore leaves a durable record that is the
// truth about the session, plus files no record names. Kill points of a
// Freeze (daemon/session.cc) and what each leaves, the record still
// PREPARED (it names neither the frozen blob nor any handover):
//   1. after the handover dir is made (SafeDir::OpenSub):   handover/NAME/, empty
//   2. while its blob is written or Prepare's draft patched:
//        frozen-G.blob (whole or cut) or frozen-draft.blob (patched in part)
//   3. in Send's write (SafeDir::Replace):  NAME/handover.blob.tmp (whole or cut)
//   4. after Send, before its record is durable:  NAME/handover.blob (whole)
//   5. in the HANDED_OVER record's write: session.rec.tmp, which the next
//      start's own record write replaces; the record is then PREPARED (points
//      2-4's files are orphans) or HANDED_OVER, which names frozen-G.blob and
//      the dir, and from then on they are the handover and must stay.
// Prepare leaves prepared-G.blob the same way, and frozen-draft.blob is named
// by no record ever (so Prepare, Cancel and a start remove it before their
// record writes, SweepFrozenDraft). Cancel unlinks the dir's blob after its
// IDLE record, so a kill there leaves it with an IDLE record. Finish on the
// new side consumes the medium (unlinks the blob) before its FINISHED record
// on purpose: a kill in between leaves a VERIFIED record naming a handover
// whose blob is gone, which recovery rolls back to HANDED_OVER and Restore
// answers from the state-dir copy of the same bytes (the record names it, and
// Finish unlinks it only after FINISHED is durable), so nothing is lost; the
// other order would leave the blob with a FINISHED record, which beneath a
// --handover-root outside the state dir no start ever sweeps.
//
// So, once the record is read, checked and durable again, removed:
//  - in the state dir, a regular file named prepared-G.blob, frozen-G.blob
//    (G decimal) or frozen-draft.blob that the record does not name as its
//    prepared_blob or frozen_blob: nothing reads it (the draft is used only by
//    the process that wrote it, from memory);
//  - beneath the default handover root (<state-dir>/handover), in the root
//    and in each directory directly beneath it: a regular handover.blob,
//    unless a dir handover stands (HANDED_OVER, RESTORED, VERIFIED with
//    transport DIR) and the record's handover_dir is that directory; and a
//    regular handover.blob.tmp anywhere there (no one reads a temporary, and
//    Send's rename happened before any record naming its dir).
// Kept (logged with why):
//  - an entry of those names that is not a regular file: khod writes only
//    regular files there, so it is not khod's leftover (a link is never
//    followed, so its target is never touched; the next write of that name
//    replaces the entry itself, never what it points at, common/safe_file.h);
//  - every directory (not logged): a client names a handover dir, which
//    stays after a handover that finished too, and one a killed Freeze made
//    cannot be told from one an operator made or mounted; empty, it costs an
//    inode, and the next Freeze into that name uses it as it is;
//  - a directory beneath the root that does not open as a safe one
//    (O_NOFOLLOW, khod's owner, no group/other write): not descended;
//  - everything beneath the root when the record names a handover_dir that is
//    not one name (an older khod recorded a client's path, which may lead
//    there);
//  - anything beneath a --handover-root outside the state dir: other
//    directories than khod's own, possibly another khod's medium.
// Any other name is not khod's and is not looked at beyond its type. With no
// record at all nothing is swept: there is no record to say what is unnamed.
// And no session starts beside files of those names without a record
// (FindSessionFiles): they are an earlier session's, its record moved aside
// or removed by an operator, and the new session's own blobs (generations
// counting from 1 again) and this sweep at its next start would write over
// or remove them (daemon/session_recovery.cc refuses, naming them). A failure (listing,
// unlink: EACCES, EROFS, EPERM) leaves that entry and goes on; it is reported,
// and the next start tries again. The unlinks are not fsynced: one lost to a
// crash is done again at the next start.

const char* KindName(mode_t mode) {
  if (S_ISLNK(mode)) return "symbolic link";
  if (S_ISDIR(mode)) return "directory";
  if (S_ISFIFO(mode)) return "FIFO";
  if (S_ISSOCK(mode)) return "socket";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "device";
  return "file of another type";
}

std::string ErrnoText(const char* what, int err) {
  return std::string(what) + ": " + std::strerror(err);
}

// The names in the directory `dir_fd`, "." and ".." left out, read through a
// description of its own (the directory's fd is shared and never read).
bool ListNames(int dir_fd, const std::string& shown, std::vector<std::string>* names,
               SweepReport* r) {
  const int fd = ::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    r->failed.push_back({shown, ErrnoText("cannot list it", errno)});
    return false;
  }
  DIR* d = ::fdopendir(fd);
  if (!d) {
    r->failed.push_back({shown, ErrnoText("cannot list it", errno)});
    ::close(fd);
    return false;
  }
  errno = 0;
  while (struct dirent* e = ::readdir(d)) {
    const std::string n = e->d_name;
    if (n != "." && n != "..") names->push_back(n);
    errno = 0;
  }
  const int err = errno;
  ::closedir(d);
  if (err != 0) {
    r->failed.push_back({shown, ErrnoText("cannot list it", err)});
    return false;
  }
  return true;
}

// Unlinks `name` in `dir_fd` when it is a regular file; absent is nothing to
// do. unlinkat removes the entry itself: a link there (swapped in after the
// stat, which only root could do in a checked directory) goes as a link.
void RemoveIfRegular(int dir_fd, const std::string& name, const std::string& shown,
                     const std::string& why, SweepReport* r) {
  struct stat st;
  if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno != ENOENT) r->failed.push_back({shown, ErrnoText("cannot stat it", errno)});
    return;
  }
  if (!S_ISREG(st.st_mode)) {
    r->kept.push_back({shown, std::string("a ") + KindName(st.st_mode) +
                                  ", not a file khod writes: not swept, not followed"});
    return;
  }
  if (::unlinkat(dir_fd, name.c_str(), 0) != 0) {
    if (errno != ENOENT) r->failed.push_back({shown, ErrnoText("cannot unlink it", errno)});
    return;
  }
  r->removed.push_back({shown, why});
}

// The handover blob and its temporary in one handover dir (`prefix` its path
// relative to the state dir, with a trailing '/').
void SweepHandoverDir(int dir_fd, const std::string& prefix, bool stands, SweepReport* r) {
  const std::string blob = DirTransport::kBlobName;
  const std::string tmp = blob + ".tmp";  // SafeDir::Replace's temporary
  if (!stands)
    RemoveIfRegular(dir_fd, blob, prefix + blob,
                    "a handover blob no record names (a Freeze killed before its record, or a "
                    "handover ended before it was unlinked)",
                    r);
  RemoveIfRegular(dir_fd, tmp, prefix + tmp, "a handover blob's write cut short", r);
}

constexpr char kDraftWhy[] = "Prepare's draft, which only the process that wrote it uses";

// Whether `root` is the directory "handover" of `state_dir` itself (not a
// link to it, not a --handover-root elsewhere).
bool IsStateDirsOwnRoot(const SafeDir& state_dir, const SafeDir& root) {
  struct stat in_state, opened;
  if (::fstatat(state_dir.fd(), kDefaultHandoverRootName, &in_state, AT_SYMLINK_NOFOLLOW) != 0)
    return false;
  if (!S_ISDIR(in_state.st_mode) || ::fstat(root.fd(), &opened) != 0) return false;
  return in_state.st_dev == opened.st_dev && in_state.st_ino == opened.st_ino;
}

void SweepHandoverRoot(const SafeDir& root, const RecordedNames& named, SweepReport* r) {
  const std::string prefix = std::string(kDefaultHandoverRootName) + "/";
  if (named.dir_handover_stands && !named.handover_dir.empty() &&
      !CheckFileName(named.handover_dir, "dir").ok()) {
    r->kept.push_back({prefix, "the record names the handover dir '" + named.handover_dir +
                                   "', a path, which may lead here: nothing beneath it is swept"});
    return;
  }
  SweepHandoverDir(root.fd(), prefix, named.dir_handover_stands && named.handover_dir.empty(), r);
  std::vector<std::string> names;
  if (!ListNames(root.fd(), prefix, &names, r)) return;
  for (const std::string& n : names) {
    struct stat st;
    if (::fstatat(root.fd(), n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode))
      continue;  // not a handover dir: no link is followed, no other file is khod's here
    const std::string shown = prefix + n + "/";
    // O_NOFOLLOW, and checked as Freeze checks a handover dir.
    Result<SafeDir> sub = root.OpenSub(n, /*create_mode=*/0);
    if (!sub.ok()) {
      r->kept.push_back({shown, "not descended: " + sub.status().message()});
      continue;
    }
    SweepHandoverDir(sub->fd(), shown, named.dir_handover_stands && named.handover_dir == n, r);
  }
}

bool IsRegularAt(int dir_fd, const std::string& name) {
  struct stat st;
  return ::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
}

// The first directory that could not be listed, as an error.
Status ListingFailure(const SweepReport& r) {
  if (r.failed.empty()) return Status::Ok();
  return Status::IoError(r.failed.front().path + ": " + r.failed.front().why);
}

}  // namespace

Result<std::vector<std::string>> FindSessionFiles(const SafeDir& state_dir,
                                                  const SafeDir& handover_root) {
  std::vector<std::string> found;
  SweepReport listing;  // only its failures are used
  std::vector<std::string> names;
  if (!ListNames(state_dir.fd(), state_dir.path(), &names, &listing))
    return ListingFailure(listing);
  for (const std::string& n : names)
    if (IsSessionBlobName(n) && IsRegularAt(state_dir.fd(), n)) found.push_back(n);
  const std::string prefix = IsStateDirsOwnRoot(state_dir, handover_root)
                                 ? std::string(kDefaultHandoverRootName) + "/"
                                 : handover_root.path() + "/";
  const std::string blob = DirTransport::kBlobName;
  const std::string tmp = blob + ".tmp";
  auto in_dir = [&](int dir_fd, const std::string& shown) {
    for (const std::string& n : {blob, tmp})
      if (IsRegularAt(dir_fd, n)) found.push_back(shown + n);
  };
  in_dir(handover_root.fd(), prefix);
  names.clear();
  if (!ListNames(handover_root.fd(), handover_root.path(), &names, &listing))
    return ListingFailure(listing);
  for (const std::string& n : names) {
    struct stat st;
    if (::fstatat(handover_root.fd(), n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 ||
        !S_ISDIR(st.st_mode))
      continue;
    // As the sweep: a directory that does not open as a safe one is not
    // khod's handover dir, and nothing khod wrote is beneath it.
    Result<SafeDir> sub = handover_root.OpenSub(n, /*create_mode=*/0);
    if (sub.ok()) in_dir(sub->fd(), prefix + n + "/");
  }
  return found;
}

SweepReport SweepFrozenDraft(const SafeDir& state_dir) {
  SweepReport r;
  RemoveIfRegular(state_dir.fd(), kFrozenDraftBlob, kFrozenDraftBlob, kDraftWhy, &r);
  return r;
}

SweepReport SweepLeftovers(const SafeDir& state_dir, const SafeDir& handover_root,
                           const RecordedNames& named) {
  SweepReport r;
  std::vector<std::string> names;
  if (ListNames(state_dir.fd(), ".", &names, &r))
    for (const std::string& n : names)
      if (IsSessionBlobName(n) && n != named.prepared_blob && n != named.frozen_blob)
        RemoveIfRegular(state_dir.fd(), n, n,
                        n == kFrozenDraftBlob
                            ? kDraftWhy
                            : "a blob no record names (written just before a kill)",
                        &r);
  if (IsStateDirsOwnRoot(state_dir, handover_root)) SweepHandoverRoot(handover_root, named, &r);
  return r;
}

}  // namespace khod
