// khoctl subcommands. Each lives in its own cmd_*.cc and is listed once in
// main.cc's table. A command returns the process exit code:
//   0 ok / equal, 1 differences found (verify), 2 error (message on stderr),
//   3 (verify) no difference where observable, parts not verified (named).
#ifndef KHOD_KHOCTL_COMMANDS_H_
#define KHOD_KHOCTL_COMMANDS_H_

#include <string>
#include <vector>

namespace khod {

using Args = std::vector<std::string>;  // arguments after the subcommand name

constexpr int kExitOk = 0;
constexpr int kExitDifferent = 1;
constexpr int kExitError = 2;
constexpr int kExitNotVerified = 3;  // verify/verdict.h

struct Command {
  const char* name;
  const char* usage;    // one line, from khoctl/usage.h
  const char* summary;  // one line: what it does
  int (*run)(const Args& args);
};

// The table in main.cc; `khoctl help` prints it.
const std::vector<Command>& AllCommands();

}  // namespace khod

#endif  // KHOD_KHOCTL_COMMANDS_H_
