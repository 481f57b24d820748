// libFuzzer target for what a reexec hands the new khod (handover/
// reexec_transport.h): each input is the value of --adopt and of
// --page-pins. ParseAdoptSpec and ParsePagePinsSpec read it; an accepted
// --adopt then goes through ReexecTransport::Receive with each fd it names
// replaced by one this target made for the purpose (never one of the
// fuzzer's own): by the number's remainder mod 8, a sealed memfd holding a
// blob, a sealed empty one, one not sealed, one sealed against writes only,
// a pipe, /dev/null, a directory, or a number that is not open.
// Oracle: a refusal carries a message; an accepted spec formatted back
// (FormatAdoptSpec, FormatPagePinsSpec) parses back the same; Receive accepts
// only a sealed regular blob and open gmem fds, hands back the blob's bytes
// and exactly the gmem fds named, and when it refuses hands out and closes
// nothing (every fd it found stays open until the transport goes); at the
// end no fd is left open. A violation aborts.
#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "fuzz/oracle.h"
#include "handover/reexec_transport.h"

namespace khod {
namespace {

constexpr char kBlob[] = "KHODSNAP blob bytes as handed on";

[[noreturn]] void Fail(const std::string& what, std::string_view detail = {}) {
  OracleFail("reexec adopt", what, detail);
}

bool IsOpen(int fd) { return ::fcntl(fd, F_GETFD) >= 0; }

int Check(int fd, const char* what) {
  if (fd < 0) Fail(what);
  return fd;
}

int Memfd(const std::string& bytes, int seals) {
  const int fd = Check(::memfd_create("fuzz-adopt", MFD_CLOEXEC | MFD_ALLOW_SEALING), "memfd");
  if (!bytes.empty() &&
      ::pwrite(fd, bytes.data(), bytes.size(), 0) != static_cast<ssize_t>(bytes.size()))
    Fail("write memfd");
  if (seals && ::fcntl(fd, F_ADD_SEALS, seals) != 0) Fail("seal memfd");
  return fd;
}

enum Kind {
  kSealedBlob,
  kSealedEmpty,
  kUnsealed,
  kWriteSealOnly,
  kPipe,
  kDevNull,
  kDirectory,
  kNotOpen,
  kKinds
};

constexpr int kAllSeals = F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK;

// A new fd of `kind`; for kNotOpen a number that was open a moment ago.
int Make(Kind kind) {
  switch (kind) {
    case kSealedBlob:
      return Memfd(kBlob, kAllSeals);
    case kSealedEmpty:
      return Memfd("", kAllSeals);
    case kUnsealed:
      return Memfd(kBlob, 0);
    case kWriteSealOnly:
      return Memfd(kBlob, F_SEAL_WRITE);
    case kPipe: {
      int p[2];
      if (::pipe2(p, O_CLOEXEC) != 0) Fail("pipe");
      ::close(p[1]);
      return p[0];
    }
    case kDevNull:
      return Check(::open("/dev/null", O_RDONLY | O_CLOEXEC), "open /dev/null");
    case kDirectory:
      return Check(::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC), "open /");
    default:
      return -1;  // made by the caller
  }
}

void CheckReceive(const AdoptSpec& parsed) {
  const int fds_before = OpenFdCount();
  // Every fd the spec names replaced by one made here; the numbers freed for
  // kNotOpen are taken last, so no other fd made here reuses them.
  AdoptSpec spec;
  std::vector<int*> not_open;
  auto replace = [&](int named, int* out) {
    const Kind k = static_cast<Kind>(named % kKinds);
    *out = k == kNotOpen ? -1 : Make(k);
    if (k == kNotOpen) not_open.push_back(out);
    return k;
  };
  Kind blob_kind = kNotOpen;
  if (parsed.blob_fd >= 0) blob_kind = replace(parsed.blob_fd, &spec.blob_fd);
  for (const auto& [token, fd] : parsed.fds) replace(fd, &spec.fds[token]);
  // Numbers open a moment ago, not now (all taken before any is freed, so
  // each is another); nothing is opened between here and Receive.
  for (int* out : not_open) *out = Make(kDevNull);
  for (int* out : not_open) ::close(*out);
  bool gmems_open = true;
  for (const auto& [token, fd] : spec.fds) gmems_open &= IsOpen(fd);
  const bool blob_ok =
      parsed.blob_fd >= 0 && (blob_kind == kSealedBlob || blob_kind == kSealedEmpty);
  {
    ReexecTransport t(spec);
    Result<ReceivedHandover> r = t.Receive();
    RequireMessage("reexec adopt", r.status(), "ReexecTransport::Receive");
    if (r.ok() != (blob_ok && gmems_open))
      Fail(r.ok() ? "Receive accepted what is not a sealed blob and open gmem fds"
                  : "Receive refused a sealed blob and open gmem fds",
           r.ok() ? FormatAdoptSpec(parsed) : r.status().ToString());
    if (r.ok()) {
      const std::string want = blob_kind == kSealedBlob ? kBlob : "";
      if (r->blob_bytes() != want) Fail("Receive's blob is not the memfd's bytes");
      if (r->fds != spec.fds) Fail("Receive's gmem fds are not the ones named");
      for (const auto& [token, fd] : r->fds) ::close(fd);
    } else {
      // Nothing handed out or closed: what was open still is.
      if (spec.blob_fd >= 0 && blob_kind != kNotOpen && !IsOpen(spec.blob_fd))
        Fail("a refused Receive closed the blob fd");
      for (const auto& [token, fd] : spec.fds)
        if (gmems_open && !IsOpen(fd)) Fail("a refused Receive closed a gmem fd");
    }
  }
  // A gmem fd that was not open is no one's; every other the transport
  // handed out (closed above) or closed with itself.
  const int fds_after = OpenFdCount();
  if (fds_after != fds_before)
    Fail("fds left open",
         std::to_string(fds_before) + " before, " + std::to_string(fds_after) + " after");
}

}  // namespace
}  // namespace khod

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);

  khod::Result<khod::AdoptSpec> adopt = khod::ParseAdoptSpec(text);
  khod::RequireMessage("reexec adopt", adopt.status(), "ParseAdoptSpec");
  if (adopt.ok()) {
    const std::string formatted = khod::FormatAdoptSpec(*adopt);
    khod::Result<khod::AdoptSpec> back = khod::ParseAdoptSpec(formatted);
    if (!back.ok() || back->blob_fd != adopt->blob_fd || back->fds != adopt->fds)
      khod::Fail("an --adopt spec does not read back", formatted);
    // Each fd named is one made here: a spec of a few is enough to show Receive's checks.
    if (adopt->fds.size() <= 64) khod::CheckReceive(*adopt);
  }

  auto pins = khod::ParsePagePinsSpec(text);
  khod::RequireMessage("reexec adopt", pins.status(), "ParsePagePinsSpec");
  if (pins.ok()) {
    const std::string formatted = khod::FormatPagePinsSpec(*pins);
    auto back = khod::ParsePagePinsSpec(formatted);
    if (!back.ok() || *back != *pins)
      khod::Fail("a --page-pins spec does not read back", formatted);
  }
  return 0;
}
