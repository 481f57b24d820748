// Command-line flags, one parser for every khod program (khod, khoctl's
// subcommands, tools): "--name value", "--name=value", boolean "--name",
// short aliases ("-o"), positionals, and "--" ending the flags. Every mistake
// (unknown flag, missing value, repeated flag, bad number) is a Status whose
// message says which flag and why, so a program can print it and exit 2.
#ifndef KHOD_COMMON_FLAGS_H_
#define KHOD_COMMON_FLAGS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace khod {

struct FlagSpec {
  const char* name;             // "--to"
  bool takes_value;             // false: a boolean switch
  const char* alias = nullptr;  // "-o"
  // "PATH  where to write it" (a value's placeholder, two spaces, what the
  // flag does) or "  what the switch does"; FlagsHelp aligns the two.
  const char* help = nullptr;
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
  friend Result<ParsedFlags> ParseFlags(const std::vector<std::string>&,
                                        const std::vector<FlagSpec>&);
  std::map<std::string, std::string> values_;  // keyed by FlagSpec::name
  std::vector<std::string> positionals_;
};

Result<ParsedFlags> ParseFlags(const std::vector<std::string>& args,
                               const std::vector<FlagSpec>& specs);

// argv[1..argc) as ParseFlags takes it.
std::vector<std::string> ArgsAfterProgram(int argc, char** argv);

// A tool's whole command line: ParseFlags over argv[1..] with a --help (-h)
// of its own. On --help it prints `usage` and FlagsHelp to stdout and sets
// *exit_code to 0; on a mistake, "PROGRAM: <what is wrong>" and the same help
// to stderr, *exit_code 2. In both cases it returns nullopt and the program
// returns *exit_code.
std::optional<ParsedFlags> ParseCommandLine(int argc, char** argv, const char* usage,
                                            std::vector<FlagSpec> specs, int* exit_code);

// One line per spec that has help text: "  --name, -a VALUE" then what it
// does, in a column of its own.
std::string FlagsHelp(const std::vector<FlagSpec>& specs);

}  // namespace khod

#endif  // KHOD_COMMON_FLAGS_H_
