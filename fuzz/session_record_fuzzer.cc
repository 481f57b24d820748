// libFuzzer target for the session record khod finds in its state dir at
// start-up (daemon/record_file.h, daemon/session_recovery.cc). Each input is
// a record file: it is put in a fresh state dir twice, as given (the frame:
// magic, length, XXH3) and with bytes 24.. re-framed by WriteRecordFile, so
// that mutations reach the khod.v1.SessionRecord payload and what recovery
// does with it. Each time Session::Open runs on it (model guests are made in
// a ModelKernel; a kernel gmem's pid and fd are never taken: the opener
// refuses them, as for a VMM that has gone; LUO is a device that is not
// there), then GetStatus and Cancel on what it opened.
//
// Oracle (bad input gets an error naming what is wrong, and loses nothing
// already saved): a refusal carries a message and leaves the record file as
// it was; nothing but khod's own files is ever removed (not khod.lock beside
// the record, nor a file beside the state dir); a session that opened leaves
// a record that reads back after Open and after Cancel, and opens again. A
// violation aborts.
#include <google/protobuf/stubs/logging.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/record_file.h"
#include "daemon/session.h"
#include "daemon/session_record.pb.h"
#include "fuzz/model_only_opener.h"
#include "fuzz/oracle.h"
#include "fuzz/scratch_dir.h"
#include "handover/luo_device.h"

namespace khod {
namespace {

constexpr size_t kRecordHeader = 24;  // KHODREC1, length, XXH3 (daemon/record_file.cc)
constexpr char kRecordName[] = "session.rec";
constexpr char kLockName[] = "khod.lock";  // daemon/instance_lock.h, beside the record
constexpr char kLockBytes[] = "pid 1\n";

[[noreturn]] void Fail(const std::string& what, std::string_view detail = {}) {
  OracleFail("session record", what, detail);
}

// A /dev/liveupdate that does not exist.
class AbsentLuo : public LuoDevice {
 public:
  int Open(const std::string&) override { return -ENOENT; }
  int Ioctl(int, unsigned long, void*) override { return -ENOTTY; }
  void Close(int) override {}
};

std::string ReadOrEmpty(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

bool Exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

struct Scene {
  std::string state;    // the state dir
  std::string outside;  // a file beside it
};

void CheckNothingElseRemoved(const Scene& s, const char* after) {
  if (ReadOrEmpty(s.state + "/" + kLockName) != kLockBytes)
    Fail(std::string("khod.lock beside the record was removed or changed ") + after, s.state);
  if (!Exists(s.outside))
    Fail(std::string("a file outside the state dir was removed ") + after, "");
}

Result<std::unique_ptr<Session>> OpenSession(const Scene& s, GmemOpener* opener, LuoDevice* luo) {
  SessionOptions o;
  o.state_dir = s.state;
  o.default_transport = v1::DIR;
  o.capture_threads = 1;
  o.luo_device = luo;
  o.debugfs_root = ScratchDir::Path() + "/no-debugfs";
  o.self_binary = "/nonexistent/khod";
  o.on_exec_ready = [](std::vector<std::string>) {};
  return Session::Open(std::move(o), opener);
}

// The record khod left after `op` reads back and parses.
void CheckRecordReadsBack(const std::string& record, const char* op) {
  Result<std::string> raw = ReadRecordFile(record);
  if (!raw.ok())
    Fail(std::string("the record left after ") + op + " does not read back",
         raw.status().ToString());
  v1::SessionRecord parsed;
  if (!parsed.ParseFromString(*raw))
    Fail(std::string("the record left after ") + op + " does not parse", "");
}

// Session::Open on the record file now in `s.state`, and what follows it.
void OpenAndCheck(const Scene& s) {
  const std::string record = s.state + "/" + kRecordName;
  const std::string before = ReadOrEmpty(record);
  AbsentLuo luo;
  ModelOnlyOpener opener;
  Result<std::unique_ptr<Session>> opened = OpenSession(s, &opener, &luo);
  CheckNothingElseRemoved(s, "by Open");
  if (!opened.ok()) {
    if (opened.status().message().empty()) Fail("Open refused without a message", "");
    if (ReadOrEmpty(record) != before)
      Fail("a refused record was changed", opened.status().ToString());
    return;
  }
  std::unique_ptr<Session> session = std::move(*opened);
  if (session->recovery().empty()) Fail("Open did not say what it recovered", "");
  CheckRecordReadsBack(record, "Open");
  (void)session->GetStatus();
  Result<v1::PhaseReply> cancelled = session->Cancel();
  if (!cancelled.ok() && cancelled.status().message().empty())
    Fail("Cancel refused without a message", "");
  session.reset();
  CheckNothingElseRemoved(s, "by Open and Cancel");
  // What khod wrote it reads back, and starts from again.
  CheckRecordReadsBack(record, "Cancel");
  ModelOnlyOpener again_opener;
  Result<std::unique_ptr<Session>> again = OpenSession(s, &again_opener, &luo);
  if (!again.ok()) Fail("the record a session left does not open", again.status().ToString());
  again.value().reset();
  CheckNothingElseRemoved(s, "by the second Open");
}

// A fresh state dir holding `record_file` as session.rec, khod.lock beside it.
Scene Fresh(std::string_view record_file) {
  Scene s;
  const std::string root = ScratchDir::Fresh("session");
  s.state = root + "/state";
  s.outside = root + "/outside";
  ScratchDir::MakeDirs(s.state);
  ScratchDir::WriteFile(s.outside, "not khod's");
  ScratchDir::WriteFile(s.state + "/" + kLockName, kLockBytes);
  ScratchDir::WriteFile(s.state + "/" + kRecordName, record_file);
  return s;
}

}  // namespace
}  // namespace khod

// Protobuf logs every invalid UTF-8 string it parses.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  // As given: the frame's checks.
  khod::OpenAndCheck(khod::Fresh(input));
  // Re-framed: the payload's.
  if (size >= khod::kRecordHeader) {
    const khod::Scene s = khod::Fresh("");
    const khod::Status st =
        khod::WriteRecordFile(s.state + "/" + khod::kRecordName, input.substr(khod::kRecordHeader));
    if (!st.ok()) khod::Fail("WriteRecordFile", st.ToString());
    khod::OpenAndCheck(s);
  }
  return 0;
}
