#include "tools/flags.hpp"

namespace loyalty::tools {

std::optional<std::string> Flags::parse(const std::vector<FlagSpec>& specs, int argc, char** argv, int first) {
  for (const auto& spec : specs) {
    if (!spec.environment.empty()) {
      if (const char* env = std::getenv(spec.environment.c_str()); env && *env) {
        values_[spec.name] = env;
        continue;
      }
    }
    if (!spec.fallback.empty()) values_[spec.name] = spec.fallback;
  }
  for (int i = first; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0) {
      positionals_.push_back(arg);
      continue;
    }
    arg = arg.substr(2);
    std::optional<std::string> inline_value;
    if (const auto eq = arg.find('='); eq != std::string::npos) {
      inline_value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    }
    const FlagSpec* spec = nullptr;
    for (const auto& candidate : specs) {
      if (candidate.name == arg) spec = &candidate;
    }
    if (!spec) return "unknown flag --" + arg;
    if (spec->is_switch) {
      values_[arg] = "true";
    } else if (inline_value) {
      values_[arg] = *inline_value;
    } else if (i + 1 < argc) {
      values_[arg] = argv[++i];
    } else {
      return "--" + arg + " needs a value";
    }
  }
  return std::nullopt;
}

std::optional<std::string> Flags::get(const std::string& name) const {
  const auto found = values_.find(name);
  if (found == values_.end()) return std::nullopt;
  return found->second;
}

std::string Flags::help(const std::vector<FlagSpec>& specs) {
  std::string text;
  for (const auto& spec : specs) {
    text += "  --" + spec.name + (spec.is_switch ? "" : " VALUE");
    text += std::string(spec.name.size() < 22 ? 22 - spec.name.size() : 1, ' ') + spec.help;
    if (!spec.environment.empty()) text += " [env " + spec.environment + "]";
    if (!spec.fallback.empty()) text += " (default " + spec.fallback + ")";
    text += "\n";
  }
  return text;
}

}  // namespace loyalty::tools
