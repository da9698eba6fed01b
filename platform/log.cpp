#include "platform/log.hpp"

#include <atomic>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "platform/time.hpp"

namespace loyalty::log {
namespace {

std::atomic<int> minimum_level{static_cast<int>(Level::info)};

void append_body(std::string& line, Level level, const RequestTags* request, std::string_view message,
                 std::initializer_list<Field> fields) {
  line += "\"level\":\"";
  line += level_name(level);
  line += "\",\"msg\":\"";
  append_json_escaped(line, message);
  line += '"';
  const auto append_field = [&line](std::string_view name, const Value& value) {
    line += ",\"";
    append_json_escaped(line, name);
    line += "\":";
    value.append_json(line);
  };
  if (request) {
    if (!request->request_id.empty()) append_field("request_id", request->request_id);
    if (!request->key_id.empty()) append_field("key_id", request->key_id);
  }
  for (const auto& field : fields) append_field(field.name, field.value);
}

void write(Level level, const RequestTags* request, std::string_view message, std::initializer_list<Field> fields) {
  if (!enabled(level)) return;
  std::string line = "{\"ts\":\"" + format_rfc3339(now_utc()) + "\",";
  append_body(line, level, request, message, fields);
  line += "}\n";
  // One fwrite per line keeps lines whole when threads log at once.
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace

std::optional<Level> parse_level(std::string_view name) {
  if (name == "debug") return Level::debug;
  if (name == "info") return Level::info;
  if (name == "warn" || name == "warning") return Level::warn;
  if (name == "error") return Level::error;
  return std::nullopt;
}

const char* level_name(Level level) {
  switch (level) {
    case Level::debug: return "debug";
    case Level::info: return "info";
    case Level::warn: return "warn";
    case Level::error: return "error";
  }
  return "info";
}

void set_level(Level level) {
  minimum_level.store(static_cast<int>(level), std::memory_order_relaxed);
}
bool enabled(Level level) {
  return static_cast<int>(level) >= minimum_level.load(std::memory_order_relaxed);
}

void Value::append_json(std::string& out) const {
  char number[32];
  switch (kind_) {
    case Kind::text:
      out += '"';
      append_json_escaped(out, text_);
      out += '"';
      return;
    case Kind::boolean: out += integer_ ? "true" : "false"; return;
    case Kind::integer: {
      const auto written = std::to_chars(number, number + sizeof number, integer_);
      out.append(number, written.ptr);
      return;
    }
    case Kind::real: {
      if (!std::isfinite(real_)) {
        out += "null";
        return;
      }
      const auto written = std::to_chars(number, number + sizeof number, real_);  // shortest exact form
      out.append(number, written.ptr);
      return;
    }
  }
}

void debug(std::string_view message, std::initializer_list<Field> fields) {
  write(Level::debug, nullptr, message, fields);
}
void info(std::string_view message, std::initializer_list<Field> fields) {
  write(Level::info, nullptr, message, fields);
}
void warn(std::string_view message, std::initializer_list<Field> fields) {
  write(Level::warn, nullptr, message, fields);
}
void error(std::string_view message, std::initializer_list<Field> fields) {
  write(Level::error, nullptr, message, fields);
}

void debug(const RequestTags& request, std::string_view message, std::initializer_list<Field> fields) {
  write(Level::debug, &request, message, fields);
}
void info(const RequestTags& request, std::string_view message, std::initializer_list<Field> fields) {
  write(Level::info, &request, message, fields);
}
void warn(const RequestTags& request, std::string_view message, std::initializer_list<Field> fields) {
  write(Level::warn, &request, message, fields);
}
void error(const RequestTags& request, std::string_view message, std::initializer_list<Field> fields) {
  write(Level::error, &request, message, fields);
}

std::string format_line(Level level, const RequestTags* request, std::string_view message,
                        std::initializer_list<Field> fields) {
  std::string line = "{";
  append_body(line, level, request, message, fields);
  return line + "}";
}

void append_json_escaped(std::string& out, std::string_view text) {
  for (char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
          out += escaped;
        } else {
          out += c;
        }
    }
  }
}

}  // namespace loyalty::log
