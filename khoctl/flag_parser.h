// Command-line flags of one khoctl subcommand: "--name value", "--name=value",
// boolean "--name", short aliases ("-o"), and positionals. Every mistake
// (unknown flag, missing value, repeated flag, bad number) is a Status whose
// message says which flag and why, so commands can print it and exit 2.
#ifndef KHOD_KHOCTL_FLAG_PARSER_H_
#define KHOD_KHOCTL_FLAG_PARSER_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/status.h"
#include "khoctl/commands.h"

namespace khod {

struct FlagSpec {
  const char* name;         // "--to"
  bool takes_value;         // false: a boolean switch
  const char* alias = nullptr;  // "-o"
};

class ParsedFlags {
 public:
  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  // The flag's value, or `fallback` when absent.
  std::string Get(const std::string& name, const std::string& fallback = "") const;
  // Unsigned decimal value; InvalidArgument naming the flag when not a number.
  Result<uint64_t> GetUint(const std::string& name, uint64_t fallback) const;
  const std::vector<std::string>& positionals() const { return positionals_; }

 private:
  friend Result<ParsedFlags> ParseFlags(const Args&, const std::vector<FlagSpec>&);
  std::map<std::string, std::string> values_;  // keyed by FlagSpec::name
  std::vector<std::string> positionals_;
};

Result<ParsedFlags> ParseFlags(const Args& args, const std::vector<FlagSpec>& specs);

// Prints "khoctl CMD: <status message>" and the usage line to stderr; returns kExitError.
int FailWithUsage(const char* command, const char* usage, const Status& status);

// Prints "khoctl CMD: <status, code and message>" to stderr; returns kExitError.
int Fail(const char* command, const Status& status);

}  // namespace khod

#endif  // KHOD_KHOCTL_FLAG_PARSER_H_
