#include "ledger/log.hpp"

#include <cstdio>
#include <mutex>

#include "ledger/time.hpp"

namespace loyalty::log {
namespace {

void write(std::string_view level, std::string_view message, std::initializer_list<Field> fields) {
  std::string line = "{\"ts\":\"" + format_rfc3339(now_utc()) + "\",\"level\":\"";
  line.append(level);
  line += "\",\"msg\":\"";
  append_json_escaped(line, message);
  line += '"';
  for (const auto& [name, value] : fields) {
    line += ",\"";
    append_json_escaped(line, name);
    line += "\":\"";
    append_json_escaped(line, value);
    line += '"';
  }
  line += "}\n";
  // One fwrite per line keeps lines whole when threads log at once.
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace

void info(std::string_view message, std::initializer_list<Field> fields) { write("info", message, fields); }
void warn(std::string_view message, std::initializer_list<Field> fields) { write("warn", message, fields); }
void error(std::string_view message, std::initializer_list<Field> fields) { write("error", message, fields); }

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
