// Structured logs: one JSON object a line on stderr, with a time, a level, a message and typed
// fields (numbers as JSON numbers, booleans as JSON booleans). Lines below the level set by
// set_level (LOYALTY_LOG_LEVEL / --log-level) are dropped before anything is formatted, so a
// debug line that is off costs one relaxed atomic load. A line written while serving a request
// carries the request's id and its API key's id (RequestTags), so every line of one request
// can be found with one filter.
#pragma once

#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

namespace loyalty::log {

enum class Level { debug = 0, info = 1, warn = 2, error = 3 };

// "debug", "info", "warn" (or "warning"), "error"; nullopt for anything else.
std::optional<Level> parse_level(std::string_view name);
const char* level_name(Level level);
void set_level(Level level);  // info until set
bool enabled(Level level);

// One field's value. Text is borrowed: it must outlive the call (a temporary in the call's
// argument list does).
class Value {
 public:
  enum class Kind { text, integer, real, boolean };
  Value(std::string_view text) : kind_(Kind::text), text_(text) {}
  Value(const char* text) : kind_(Kind::text), text_(text) {}
  Value(const std::string& text) : kind_(Kind::text), text_(text) {}
  template <std::same_as<bool> Flag>
  Value(Flag flag) : kind_(Kind::boolean), integer_(flag ? 1 : 0) {}
  template <std::integral Number>
  requires(!std::same_as<Number, bool> && !std::same_as<Number, char>) Value(Number number)
      : kind_(Kind::integer), integer_(static_cast<std::int64_t>(number)) {}
  template <std::floating_point Number>
  Value(Number number) : kind_(Kind::real), real_(static_cast<double>(number)) {}

  // Appends the value as JSON (a string, a number, true/false; null for NaN and infinities).
  void append_json(std::string& out) const;

 private:
  Kind kind_;
  std::string_view text_;
  std::int64_t integer_ = 0;
  double real_ = 0;
};

struct Field {
  std::string_view name;
  Value value;
};

// The request a line belongs to. Either may be empty (no key before authentication).
struct RequestTags {
  std::string_view request_id;
  std::string_view key_id;
};

void debug(std::string_view message, std::initializer_list<Field> fields = {});
void info(std::string_view message, std::initializer_list<Field> fields = {});
void warn(std::string_view message, std::initializer_list<Field> fields = {});
void error(std::string_view message, std::initializer_list<Field> fields = {});

// The same, for a line written while serving a request: request_id and key_id come first.
void debug(const RequestTags& request, std::string_view message, std::initializer_list<Field> fields = {});
void info(const RequestTags& request, std::string_view message, std::initializer_list<Field> fields = {});
void warn(const RequestTags& request, std::string_view message, std::initializer_list<Field> fields = {});
void error(const RequestTags& request, std::string_view message, std::initializer_list<Field> fields = {});

// The line as it would be written (without the time and the newline): for tests.
std::string format_line(Level level, const RequestTags* request, std::string_view message,
                        std::initializer_list<Field> fields);

// Appends `text` to `out` as the inside of a JSON string (quotes not added).
void append_json_escaped(std::string& out, std::string_view text);

}  // namespace loyalty::log
