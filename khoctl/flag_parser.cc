#include "khoctl/flag_parser.h"

#include <cstdio>

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
  uint64_t v = 0;
  bool any = false;
  for (char c : text) {
    if (c < '0' || c > '9' || v > (UINT64_MAX - (c - '0')) / 10) {
      any = false;
      break;
    }
    v = v * 10 + static_cast<uint64_t>(c - '0');
    any = true;
  }
  if (!any)
    return Status::InvalidArgument(name + " '" + text + "' is not an unsigned number");
  return v;
}

Result<ParsedFlags> ParseFlags(const Args& args, const std::vector<FlagSpec>& specs) {
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

int FailWithUsage(const char* command, const char* usage, const Status& status) {
  std::fprintf(stderr, "khoctl %s: %s\nusage: khoctl %s\n", command, status.message().c_str(),
               usage);
  return kExitError;
}

int Fail(const char* command, const Status& status) {
  std::fprintf(stderr, "khoctl %s: %s\n", command, status.ToString().c_str());
  return kExitError;
}

}  // namespace khod
