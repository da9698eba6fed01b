#include "tools/flags.hpp"

#include <charconv>
#include <fstream>
#include <iostream>
#include <sstream>

#include "platform/time.hpp"

#ifndef LOYALTY_VERSION
#define LOYALTY_VERSION "unknown"
#endif

namespace loyalty::tools {
namespace {

std::string from(const std::string& environment) {
  return environment.empty() ? "" : " (from the option or " + environment + ")";
}

}  // namespace

std::string version_text() {
  return std::string("loyalty-ledger ") + LOYALTY_VERSION;
}

std::optional<std::string> Flags::get(const std::string& name) const {
  const auto found = values_.find(name);
  if (found == values_.end()) return std::nullopt;
  return found->second;
}

CLI::Option* add_value(CLI::App& command, Flags& flags, const std::string& name, const std::string& help,
                       const std::string& environment) {
  auto* option = command.add_option_function<std::string>(
      "--" + name, [&flags, name](const std::string& value) { flags.set(name, value); }, help);
  if (!environment.empty()) option->envname(environment);
  return option;
}

CLI::Option* add_switch(CLI::App& command, Flags& flags, const std::string& name, const std::string& help) {
  return command.add_flag_callback(
      "--" + name, [&flags, name] { flags.set(name, "true"); }, help);
}

CLI::Option* add_positional(CLI::App& command, Flags& flags, const std::string& name, const std::string& help) {
  return command.add_option_function<std::string>(
      name, [&flags](const std::string& value) { flags.add_positional(value); }, help);
}

CLI::Validator integer_between(long long min, long long max, const std::string& environment) {
  return CLI::Validator(
      [min, max, environment](std::string& text) -> std::string {
        long long value = 0;
        const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
        if (text.empty() || error != std::errc{} || end != text.data() + text.size() || value < min || value > max) {
          return "must be a whole number from " + std::to_string(min) + " to " + std::to_string(max) + ", not \"" +
                 text + "\"" + from(environment);
        }
        return "";
      },
      std::to_string(min) + ".." + std::to_string(max));
}

CLI::Validator number_between(double min, double max, const std::string& environment) {
  return CLI::Validator(
      [min, max, environment](std::string& text) -> std::string {
        double value = 0;
        const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
        if (text.empty() || error != std::errc{} || end != text.data() + text.size() ||
            !(value >= min && value <= max)) {
          char range[96];
          std::snprintf(range, sizeof range, "from %g to %g", min, max);
          return std::string("must be a number ") + range + ", not \"" + text + "\"" + from(environment);
        }
        return "";
      },
      "");
}

CLI::Validator one_of(const std::vector<std::string>& values, const std::string& environment) {
  std::string listed;
  for (const auto& value : values) listed += (listed.empty() ? "" : ", ") + value;
  return CLI::Validator(
      [values, listed, environment](std::string& text) -> std::string {
        for (const auto& value : values) {
          if (text == value) return "";
        }
        return "must be one of " + listed + ", not \"" + text + "\"" + from(environment);
      },
      "{" + listed + "}");
}

CLI::Validator rfc3339_time() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        return parse_rfc3339(text) ? "" : "must be an RFC 3339 time (2026-01-31T00:00:00Z), not \"" + text + "\"";
      },
      "TIME");
}

CLI::Validator host_and_port(const std::string& environment) {
  return CLI::Validator(
      [environment](std::string& text) -> std::string {
        const auto colon = text.rfind(':');
        const std::string port = colon == std::string::npos ? "" : text.substr(colon + 1);
        int value = -1;
        const auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), value);
        if (colon == std::string::npos || colon == 0 || port.empty() || error != std::errc{} ||
            end != port.data() + port.size() || value < 0 || value > 65535) {
          return "must be ADDRESS:PORT (127.0.0.1:8080; port 0 picks a free one), not \"" + text + "\"" +
                 from(environment);
        }
        return "";
      },
      "ADDRESS:PORT");
}

void prepare(CLI::App& app) {
  // An option given twice takes its last value (a script's default, then the caller's).
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.set_version_flag("--version", version_text(), "print the version and exit");
  app.set_help_all_flag("--help-all", "print help for every command and exit");
  app.get_formatter()->column_width(34);
  // Usage errors name the command whose help explains them.
  app.failure_message([](const CLI::App* failed, const CLI::Error& error) {
    // A command that needs a subcommand: name the word that was not one, and list the choices.
    const CLI::App* at = failed;
    std::string path = failed->get_name();
    while (!at->get_subcommands().empty()) {
      at = at->get_subcommands().front();
      path += " " + at->get_name();
    }
    const auto choices = at->get_subcommands([](const CLI::App*) { return true; });
    std::string text = failed->get_name() + ": " + error.what() + "\n";
    if (dynamic_cast<const CLI::RequiredError*>(&error) && !choices.empty()) {
      const auto left = failed->remaining(true);
      text = path + ": ";
      if (!left.empty() && !left.front().starts_with("-")) text += "no command \"" + left.front() + "\"; ";
      text += "one of these is needed:";
      for (const auto* choice : choices) text += " " + choice->get_name();
      text += "\n";
    }
    text += "Run with --help for the usage.\n";
    return text;
  });
}

std::optional<int> parse(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    const int status = app.exit(error);
    return status == 0 ? 0 : 2;
  }
  return std::nullopt;
}

std::optional<SigningKey> read_signing_key(const std::string& path) {
  if (path.empty()) return std::nullopt;
  std::ifstream file{path, std::ios::binary};
  if (!file) return std::nullopt;
  std::stringstream pem;
  pem << file.rdbuf();
  return SigningKey::from_pem(pem.str());
}

}  // namespace loyalty::tools
