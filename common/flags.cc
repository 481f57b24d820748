#include "common/flags.h"

#include <algorithm>
#include <cstdio>
#include <optional>

#include "common/numbers.h"

namespace khod {

namespace {

const FlagSpec* FindSpec(const std::vector<FlagSpec>& specs, const std::string& name) {
  for (const auto& s : specs)
    if (name == s.name || (s.alias && name == s.alias)) return &s;
  return nullptr;
}

}  // namespace

std::string ParsedFlags::Get(const std::string& name, const std::string& fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second;
}

Result<uint64_t> ParsedFlags::GetUint(const std::string& name, uint64_t fallback) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  const std::string& text = it->second;
  const std::optional<uint64_t> v = ParseU64(text);
  if (!v) return Status::InvalidArgument(name + " '" + text + "' is not an unsigned number");
  return *v;
}

Result<ParsedFlags> ParseFlags(const std::vector<std::string>& args,
                               const std::vector<FlagSpec>& specs) {
  ParsedFlags out;
  bool only_positionals = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (only_positionals || arg.size() < 2 || arg[0] != '-') {
      out.positionals_.push_back(arg);
      continue;
    }
    if (arg == "--") {
      only_positionals = true;
      continue;
    }
    const size_t eq = arg.find('=');
    const std::string name = arg.substr(0, eq);
    const FlagSpec* spec = FindSpec(specs, name);
    if (!spec) return Status::InvalidArgument("unknown flag '" + name + "'");
    if (out.values_.count(spec->name))
      return Status::InvalidArgument("flag '" + name + "' given twice");
    std::string value;
    if (!spec->takes_value) {
      if (eq != std::string::npos)
        return Status::InvalidArgument("flag '" + name + "' takes no value");
    } else if (eq != std::string::npos) {
      value = arg.substr(eq + 1);
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      return Status::InvalidArgument("flag '" + name + "' needs a value");
    }
    out.values_[spec->name] = value;
  }
  return out;
}

std::vector<std::string> ArgsAfterProgram(int argc, char** argv) {
  return argc > 1 ? std::vector<std::string>(argv + 1, argv + argc) : std::vector<std::string>();
}

std::optional<ParsedFlags> ParseCommandLine(int argc, char** argv, const char* usage,
                                            std::vector<FlagSpec> specs, int* exit_code) {
  specs.insert(specs.begin(), {"--help", false, "-h", "  print this help and exit"});
  Result<ParsedFlags> f = ParseFlags(ArgsAfterProgram(argc, argv), specs);
  Status wrong = f.ok() && !f->positionals().empty()
                     ? Status::InvalidArgument("unexpected argument '" + f->positionals()[0] + "'")
                     : f.status();
  if (f.ok() && wrong.ok() && !f->Has("--help")) return std::move(*f);
  const std::string program = argc > 0 ? argv[0] : "";
  FILE* out = wrong.ok() ? stdout : stderr;
  if (!wrong.ok())
    std::fprintf(out, "%s: %s\n", program.substr(program.rfind('/') + 1).c_str(),
                 wrong.message().c_str());
  std::fprintf(out, "usage: %s\n%s", usage, FlagsHelp(specs).c_str());
  *exit_code = wrong.ok() ? 0 : 2;
  return std::nullopt;
}

std::string FlagsHelp(const std::vector<FlagSpec>& specs) {
  constexpr size_t kColumn = 28;  // where the descriptions start
  std::string out;
  for (const auto& s : specs) {
    if (!s.help) continue;
    std::string left = std::string("  ") + s.name;
    if (s.alias) left += std::string(", ") + s.alias;
    std::string text = s.help;
    const size_t gap = text.find("  ");
    if (gap != std::string::npos) {
      if (gap > 0) left += " " + text.substr(0, gap);
      text = text.substr(text.find_first_not_of(' ', gap));
    }
    left.resize(std::max(kColumn, left.size() + 2), ' ');
    out += left + text + "\n";
  }
  return out;
}

}  // namespace khod
