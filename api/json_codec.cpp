#include "api/json_codec.hpp"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/stubs/logging.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include "api/limits.hpp"
#include "platform/log.hpp"
#include "platform/text.hpp"

namespace loyalty::api {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// One pass over a JSON text before any parser sees it: refuses nesting deeper than
// limits::json_depth_max (parsers recurse, and a body of a few KiB of '[' would overflow the
// stack) and any number token outside strings that is not an integer.
std::optional<std::string> scan_json_text(std::string_view body) {
  bool in_string = false;
  std::size_t depth = 0;
  for (std::size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > limits::json_depth_max) {
        return "the body nests objects and arrays deeper than " + std::to_string(limits::json_depth_max) + " levels";
      }
    } else if (c == '}' || c == ']') {
      if (depth > 0) --depth;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      std::size_t end = i;
      bool integral = true;
      while (end < body.size() && std::string_view("+-0123456789.eE").find(body[end]) != std::string_view::npos) {
        if (body[end] == '.' || body[end] == 'e' || body[end] == 'E') integral = false;
        ++end;
      }
      if (!integral)
        return "amounts and counts are integers; " + std::string(body.substr(i, std::min<std::size_t>(end - i, 40))) +
               " is not";
      i = end - 1;
    }
  }
  return std::nullopt;
}

// The checks a parsed message passes whichever encoding it came in, so that JSON and binary
// protobuf are held to the same bounds: nesting depth (counted as JSON counts it: a message,
// an array or an object is a level; a google.protobuf.Value or a map entry is not), list
// sizes, text (valid UTF-8, no NUL, at most limits::string_bytes_max bytes), numbers in
// free-form values (whole and finite, as the JSON scan demands), and no unknown fields (the
// JSON parser refuses them; binary parsing would keep them silently).
class MessageCheck {
 public:
  std::optional<std::string> problem;

  void message(const Message& message, std::size_t depth, const std::string& path) {
    if (problem) return;
    const Descriptor* descriptor = message.GetDescriptor();
    const std::string& type = descriptor->full_name();
    const bool transparent = type == "google.protobuf.Value" || descriptor->map_key() != nullptr;  // a map entry
    const std::size_t here = transparent ? depth : depth + 1;
    if (here > limits::json_depth_max) {
      return fail(path, "nests deeper than " + std::to_string(limits::json_depth_max) + " levels");
    }
    const Reflection* r = message.GetReflection();
    if (!r->GetUnknownFields(message).empty())
      return fail(path, "has a field that " + descriptor->name() + " does not have");
    std::vector<const FieldDescriptor*> fields;
    r->ListFields(message, &fields);
    // A list or a map is a level of its own, except the ones that are the JSON value itself.
    const bool is_container = type == "google.protobuf.ListValue" || type == "google.protobuf.Struct";
    for (const FieldDescriptor* field : fields) {
      const std::string at = path.empty() ? field->name() : path + "." + field->name();
      if (!field->is_repeated()) {
        value(message, field, -1, here, at);
        continue;
      }
      const int size = r->FieldSize(message, field);
      if (static_cast<std::size_t>(size) > limits::array_items_max) {
        return fail(at, "has more than " + std::to_string(limits::array_items_max) + " items");
      }
      for (int i = 0; i < size && !problem; ++i) {
        value(message, field, i, is_container ? here : here + 1, at + "[" + std::to_string(i) + "]");
      }
    }
  }

 private:
  void fail(const std::string& path, const std::string& what) {
    if (!problem) problem = (path.empty() ? std::string("the body") : path) + " " + what;
  }

  void value(const Message& message, const FieldDescriptor* field, int index, std::size_t depth,
             const std::string& at) {
    const Reflection* r = message.GetReflection();
    switch (field->cpp_type()) {
      case FieldDescriptor::CPPTYPE_MESSAGE:
        this->message(index >= 0 ? r->GetRepeatedMessage(message, field, index) : r->GetMessage(message, field), depth,
                      at);
        break;
      case FieldDescriptor::CPPTYPE_STRING: {
        std::string scratch;
        const std::string& text = index >= 0 ? r->GetRepeatedStringReference(message, field, index, &scratch)
                                             : r->GetStringReference(message, field, &scratch);
        if (text.size() > limits::string_bytes_max) {
          fail(at, "is longer than " + std::to_string(limits::string_bytes_max) + " bytes");
        } else if (field->type() == FieldDescriptor::TYPE_STRING && !is_clean_text(text)) {
          fail(at, "must be UTF-8 text without NUL characters");
        }
        break;
      }
      case FieldDescriptor::CPPTYPE_DOUBLE:
      case FieldDescriptor::CPPTYPE_FLOAT: {
        const double number =
            field->cpp_type() == FieldDescriptor::CPPTYPE_DOUBLE
                ? (index >= 0 ? r->GetRepeatedDouble(message, field, index) : r->GetDouble(message, field))
                : (index >= 0 ? r->GetRepeatedFloat(message, field, index) : r->GetFloat(message, field));
        if (!std::isfinite(number) || std::floor(number) != number) fail(at, "must be a whole number");
        break;
      }
      default: break;
    }
  }
};

// Protobuf logs an ERROR line to stderr for every binary body with invalid UTF-8 in a string
// field: a client could fill the log with them, and they would break its one-JSON-object-a-line
// form. Such bodies are refused with a problem anyway; only fatal messages are kept.
void quiet_protobuf_parse_logs() {
  static const bool installed = [] {
    google::protobuf::SetLogHandler(
        [](google::protobuf::LogLevel level, const char* file, int line, const std::string& text) {
          if (level == google::protobuf::LOGLEVEL_FATAL)
            std::fprintf(stderr, "protobuf fatal at %s:%d: %s\n", file, line, text.c_str());
        });
    return true;
  }();
  (void)installed;
}

std::optional<std::string> check_message(const Message& message) {
  MessageCheck check;
  check.message(message, 0, "");
  return check.problem;
}

void write_string(std::string& out, std::string_view text) {
  out += '"';
  log::append_json_escaped(out, text);
  out += '"';
}

void write_message(std::string& out, const Message& message);

void write_scalar(std::string& out, const Message& message, const FieldDescriptor* field, int index) {
  const Reflection* r = message.GetReflection();
  const bool repeated = index >= 0;
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      out += std::to_string(repeated ? r->GetRepeatedInt32(message, field, index) : r->GetInt32(message, field));
      break;
    case FieldDescriptor::CPPTYPE_INT64:
      out += std::to_string(repeated ? r->GetRepeatedInt64(message, field, index) : r->GetInt64(message, field));
      break;
    case FieldDescriptor::CPPTYPE_UINT32:
      out += std::to_string(repeated ? r->GetRepeatedUInt32(message, field, index) : r->GetUInt32(message, field));
      break;
    case FieldDescriptor::CPPTYPE_UINT64:
      out += std::to_string(repeated ? r->GetRepeatedUInt64(message, field, index) : r->GetUInt64(message, field));
      break;
    case FieldDescriptor::CPPTYPE_BOOL:
      out += (repeated ? r->GetRepeatedBool(message, field, index) : r->GetBool(message, field)) ? "true" : "false";
      break;
    case FieldDescriptor::CPPTYPE_DOUBLE:
    case FieldDescriptor::CPPTYPE_FLOAT: {
      const double value = field->cpp_type() == FieldDescriptor::CPPTYPE_DOUBLE
                               ? (repeated ? r->GetRepeatedDouble(message, field, index) : r->GetDouble(message, field))
                               : (repeated ? r->GetRepeatedFloat(message, field, index) : r->GetFloat(message, field));
      char text[32];
      std::snprintf(text, sizeof text, "%.17g", value);
      out += text;
      break;
    }
    case FieldDescriptor::CPPTYPE_ENUM:
      write_string(out, (repeated ? r->GetRepeatedEnum(message, field, index) : r->GetEnum(message, field))->name());
      break;
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string scratch;
      write_string(out, repeated ? r->GetRepeatedStringReference(message, field, index, &scratch)
                                 : r->GetStringReference(message, field, &scratch));
      break;
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      write_message(out, repeated ? r->GetRepeatedMessage(message, field, index) : r->GetMessage(message, field));
      break;
  }
}

void write_map(std::string& out, const Message& message, const FieldDescriptor* field) {
  const Reflection* r = message.GetReflection();
  const int size = r->FieldSize(message, field);
  std::vector<std::pair<std::string, const Message*>> entries;
  for (int i = 0; i < size; ++i) {
    const Message& entry = r->GetRepeatedMessage(message, field, i);
    const FieldDescriptor* key = entry.GetDescriptor()->map_key();
    std::string key_text;
    if (key->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
      key_text = entry.GetReflection()->GetString(entry, key);
    } else {
      std::string scalar;
      write_scalar(scalar, entry, key, -1);
      key_text = scalar;
    }
    entries.emplace_back(std::move(key_text), &entry);
  }
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  out += '{';
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (i) out += ',';
    write_string(out, entries[i].first);
    out += ':';
    write_scalar(out, *entries[i].second, entries[i].second->GetDescriptor()->map_value(), -1);
  }
  out += '}';
}

// Struct, Value and ListValue have a JSON form of their own (a JSON object, value, array).
bool is_json_wrapper(const Descriptor* descriptor) {
  const std::string& name = descriptor->full_name();
  return name == "google.protobuf.Struct" || name == "google.protobuf.Value" || name == "google.protobuf.ListValue";
}

void write_message(std::string& out, const Message& message) {
  const Descriptor* descriptor = message.GetDescriptor();
  if (is_json_wrapper(descriptor)) {
    std::string json;
    google::protobuf::util::JsonPrintOptions options;
    options.preserve_proto_field_names = true;
    (void)google::protobuf::util::MessageToJsonString(message, &json, options);
    out += json;
    return;
  }
  const Reflection* r = message.GetReflection();
  out += '{';
  bool first = true;
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const FieldDescriptor* field = descriptor->field(i);
    if (!field->is_repeated() && field->has_presence() && !r->HasField(message, field)) continue;
    if (!first) out += ',';
    first = false;
    write_string(out, field->name());
    out += ':';
    if (field->is_map()) {
      write_map(out, message, field);
    } else if (field->is_repeated()) {
      out += '[';
      const int size = r->FieldSize(message, field);
      for (int j = 0; j < size; ++j) {
        if (j) out += ',';
        write_scalar(out, message, field, j);
      }
      out += ']';
    } else {
      write_scalar(out, message, field, -1);
    }
  }
  out += '}';
}

}  // namespace

std::optional<std::string> parse_json(std::string_view body, Message& message) {
  if (auto problem = scan_json_text(body)) return problem;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(body.data(), body.size()), &message, options);
  if (!status.ok())
    return "the body is not a valid " + message.GetDescriptor()->name() + ": " +
           std::string(status.message()).substr(0, 200);
  return check_message(message);
}

std::optional<std::string> parse_binary(std::string_view body, Message& message) {
  quiet_protobuf_parse_logs();
  google::protobuf::io::CodedInputStream input{reinterpret_cast<const std::uint8_t*>(body.data()),
                                               static_cast<int>(body.size())};
  // Deep enough for every message within the depth limit (a Value and a map entry are each a
  // message level in binary) and far below what would strain the stack.
  input.SetRecursionLimit(static_cast<int>(4 * limits::json_depth_max));
  if (!message.ParseFromCodedStream(&input) || !input.ConsumedEntireMessage()) {
    return "the body is not a valid binary " + message.GetDescriptor()->name();
  }
  return check_message(message);
}

std::string to_json(const Message& message) {
  std::string out;
  write_message(out, message);
  return out;
}

std::string to_binary(const Message& message) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream{&bytes};
    google::protobuf::io::CodedOutputStream coded{&stream};
    coded.SetSerializationDeterministic(true);
    message.SerializeToCodedStream(&coded);
  }
  return bytes;
}

}  // namespace loyalty::api
