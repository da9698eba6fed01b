// Structured logs: one JSON object a line on stderr, with a level, a message and fields.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace loyalty::log {

using Field = std::pair<std::string_view, std::string_view>;

void info(std::string_view message, std::initializer_list<Field> fields = {});
void warn(std::string_view message, std::initializer_list<Field> fields = {});
void error(std::string_view message, std::initializer_list<Field> fields = {});

// Appends `text` to `out` as the inside of a JSON string (quotes not added).
void append_json_escaped(std::string& out, std::string_view text);

}  // namespace loyalty::log
