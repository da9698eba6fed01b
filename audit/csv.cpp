#include "audit/csv.hpp"

#include <sstream>

namespace loyalty::audit {

CsvReader::CsvReader(std::istream& in, CsvLimits limits) : in_(in), limits_(limits) {}

std::optional<std::vector<std::string>> CsvReader::fail(const std::string& what) {
  problem_ = "record " + std::to_string(records_ + 1) + ": " + what;
  return std::nullopt;
}

std::optional<std::vector<std::string>> CsvReader::next() {
  if (problem_) return std::nullopt;
  enum class State { field_start, unquoted, quoted, after_quote };
  State state = State::field_start;
  std::vector<std::string> fields;
  std::string field;
  std::streambuf* source = in_.rdbuf();
  const auto end_field = [&]() -> bool {
    if (fields.size() >= limits_.fields_max) return false;
    fields.push_back(std::move(field));
    field.clear();
    return true;
  };
  const std::string too_many = "more than " + std::to_string(limits_.fields_max) + " fields";
  bool started = false;
  problem_at_end_ = problem_ended_line_ = false;
  while (true) {
    const int next = source ? source->sbumpc() : std::char_traits<char>::eof();
    if (next == std::char_traits<char>::eof()) {
      problem_at_end_ = true;
      if (state == State::quoted) return fail("a quoted field is not closed");
      if (state == State::field_start && fields.empty()) return std::nullopt;  // the end
      if (!end_field()) return fail(too_many);
      ++records_;
      return fields;
    }
    const char c = static_cast<char>(next);
    if (!started && c != '\n' && c != '\r') {
      started = true;
      record_line_ = line_;
    }
    if (c == '\n') {
      ++line_;
      problem_ended_line_ = true;  // only read when a problem is returned for this character
    } else {
      problem_ended_line_ = false;
    }
    if (state == State::quoted) {
      if (c == '"') {
        state = State::after_quote;
      } else {
        if (field.size() >= limits_.field_bytes_max)
          return fail("a field longer than " + std::to_string(limits_.field_bytes_max) + " bytes");
        field += c;
      }
      continue;
    }
    if (state == State::after_quote && c == '"') {  // "" inside quotes: one quote
      field += '"';
      state = State::quoted;
      continue;
    }
    if (c == '\r') continue;  // CRLF line ends; a CR elsewhere outside quotes is dropped
    if (c == ',') {
      if (!end_field()) return fail(too_many);
      state = State::field_start;
    } else if (c == '\n') {
      if (state == State::field_start && fields.empty()) continue;  // a blank line
      if (!end_field()) return fail(too_many);
      ++records_;
      return fields;
    } else if (state == State::after_quote) {
      return fail("text after a closing quote");
    } else if (c == '"') {
      if (state == State::unquoted) return fail("a quote inside an unquoted field");
      state = State::quoted;
    } else {
      if (field.size() >= limits_.field_bytes_max)
        return fail("a field longer than " + std::to_string(limits_.field_bytes_max) + " bytes");
      field += c;
      state = State::unquoted;
    }
  }
}

bool CsvReader::skip_faulty_record() {
  if (!problem_) return true;
  if (problem_at_end_) return false;
  problem_.reset();
  ++records_;
  if (problem_ended_line_) return true;
  std::streambuf* source = in_.rdbuf();
  for (int next = source ? source->sbumpc() : std::char_traits<char>::eof(); next != std::char_traits<char>::eof();
       next = source->sbumpc()) {
    if (next == '\n') {
      ++line_;
      break;
    }
  }
  return true;
}

namespace {

bool is_integer_text(std::string_view value) {
  if (value.starts_with('-')) value.remove_prefix(1);
  return !value.empty() && value.find_first_not_of("0123456789") == std::string_view::npos;
}

}  // namespace

std::string csv_field(std::string_view value) {
  std::string text;
  if (!value.empty() && std::string_view("=+-@\t\r").find(value.front()) != std::string_view::npos &&
      !is_integer_text(value)) {
    text = "'";
  }
  text += value;
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string csv_record(const std::vector<std::string>& fields) {
  std::string line;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i) line += ',';
    line += csv_field(fields[i]);
  }
  return line + "\n";
}

CsvRecords read_csv(std::string_view text, CsvLimits limits) {
  std::istringstream in{std::string(text)};
  CsvReader reader{in, limits};
  CsvRecords result;
  while (auto record = reader.next()) result.records.push_back(std::move(*record));
  result.problem = reader.problem();
  return result;
}

}  // namespace loyalty::audit
