// Runs tools/vmm_fixture as a child process for tests: parses its JSON report
// (tools/vmm_fixture/fixture_report.proto)
// and sends it commands. Closing stdin (destructor) makes it clean up and exit.
#ifndef KHOD_TESTS_SUPPORT_VMM_FIXTURE_PROCESS_H_
#define KHOD_TESTS_SUPPORT_VMM_FIXTURE_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "tools/vmm_fixture/fixture_report.pb.h"

namespace khod {

class VmmFixtureProcess {
 public:
  static Result<std::unique_ptr<VmmFixtureProcess>> Start(const std::vector<std::string>& args);
  ~VmmFixtureProcess();

  pid_t pid() const { return pid_; }
  const std::string& report_line() const { return report_line_; }
  const fixture::v1::FixtureReport& report() const { return report_; }
  // The report's declaration as the JSON text of a --memslots file.
  std::string DeclarationJson() const;
  // The report's entry for file `name`, or nullptr.
  const fixture::v1::FixtureFile* File(const std::string& name) const;
  int Fd(const std::string& name) const;
  // Sends one command line; OK when the fixture answers "ok".
  Status Command(const std::string& line);

 private:
  VmmFixtureProcess() = default;
  Result<std::string> ReadLine();
  pid_t pid_ = -1;
  int to_child_ = -1;
  int from_child_ = -1;
  std::string pending_;
  std::string report_line_;
  fixture::v1::FixtureReport report_;
};

}  // namespace khod

#endif  // KHOD_TESTS_SUPPORT_VMM_FIXTURE_PROCESS_H_
