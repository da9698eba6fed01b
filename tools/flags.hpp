// Command-line flags for loyaltyd and loyaltyctl: "--name value" or "--name=value", every
// flag with an environment variable behind it, and --help text built from the same table.
#pragma once

#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace loyalty::tools {

struct FlagSpec {
  std::string name;         // "database-url"
  std::string environment;  // "LOYALTY_DATABASE_URL", or empty
  std::string fallback;     // default value, or empty
  std::string help;
  bool is_switch = false;   // takes no value
};

class Flags {
 public:
  // Parses argv[first..]; non-flag arguments are kept in order as positionals.
  // Returns an error sentence for an unknown flag or a missing value.
  std::optional<std::string> parse(const std::vector<FlagSpec>& specs, int argc, char** argv, int first);

  std::optional<std::string> get(const std::string& name) const;
  std::string value(const std::string& name) const { return get(name).value_or(""); }
  bool on(const std::string& name) const { return get(name).has_value(); }
  const std::vector<std::string>& positionals() const { return positionals_; }

  static std::string help(const std::vector<FlagSpec>& specs);

 private:
  std::map<std::string, std::string> values_;
  std::vector<std::string> positionals_;
};

}  // namespace loyalty::tools
