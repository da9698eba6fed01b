// The command line of loyaltyd and loyaltyctl, on CLI11: per-command help, options checked
// before anything runs (a usage error exits 2 with a sentence naming the option), every option
// that has an environment variable falling back to it, and --version.
//
// Flags is where loyaltyctl's options land once CLI11 has checked them: the command
// implementations (tools/*_command.cpp) read it by option name.
#pragma once

#include <CLI/CLI.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "platform/ed25519.hpp"

namespace loyalty::tools {

// "loyalty-ledger 0.4.0" (the project's version in CMakeLists.txt).
std::string version_text();

class Flags {
 public:
  void set(const std::string& name, std::string value) { values_[name] = std::move(value); }
  void add_positional(std::string value) { positionals_.push_back(std::move(value)); }

  std::optional<std::string> get(const std::string& name) const;
  std::string value(const std::string& name) const { return get(name).value_or(""); }
  bool on(const std::string& name) const { return get(name).has_value(); }
  const std::vector<std::string>& positionals() const { return positionals_; }

 private:
  std::map<std::string, std::string> values_;
  std::vector<std::string> positionals_;
};

// An option --NAME VALUE of `command` (also --NAME=VALUE) whose value lands in `flags` under
// NAME; with `environment`, that variable is used when the option is not given.
CLI::Option* add_value(CLI::App& command, Flags& flags, const std::string& name, const std::string& help,
                       const std::string& environment = "");
// A switch --NAME (no value): flags.on(NAME).
CLI::Option* add_switch(CLI::App& command, Flags& flags, const std::string& name, const std::string& help);
// A positional argument, appended to flags.positionals().
CLI::Option* add_positional(CLI::App& command, Flags& flags, const std::string& name, const std::string& help);

// Checks on an option's text, run before its value is used; each error says what was given
// and, for an option with an environment variable, names it (the value may have come from it).
CLI::Validator integer_between(long long min, long long max, const std::string& environment = "");
CLI::Validator number_between(double min, double max, const std::string& environment = "");
CLI::Validator one_of(const std::vector<std::string>& values, const std::string& environment = "");
CLI::Validator rfc3339_time();
CLI::Validator host_and_port(const std::string& environment = "");

// Sets the house style on `app`: --version, help that lists subcommands, usage errors that
// exit 2.
void prepare(CLI::App& app);

// Parses the command line; returns the status to exit with now (0 after --help or --version,
// 2 after a usage error, its message on stderr), or nullopt to go on.
std::optional<int> parse(CLI::App& app, int argc, char** argv);

// Our signing key from the PEM file at `path` (--signing-key, LOYALTY_SIGNING_KEY), read once
// when a binary reads its configuration and handed to what signs: nullopt when the file cannot
// be read (or no path is given); an empty key when the file holds no Ed25519 private key.
std::optional<SigningKey> read_signing_key(const std::string& path);

}  // namespace loyalty::tools
