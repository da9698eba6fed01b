#include "api/openapi_schema.hpp"

#include <stdexcept>

namespace loyalty::api {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using nlohmann::json;

constexpr std::string_view integer_text_pattern = "^-?[0-9]+$";
constexpr std::string_view unsigned_text_pattern = "^[0-9]+$";

// An integer: a JSON number on output; on input protobuf's parser takes a decimal string too.
json integer_schema(std::string_view format, bool is_unsigned, SchemaMode mode) {
  json schema{{"format", std::string(format)}};
  if (mode == SchemaMode::output) {
    schema["type"] = "integer";
  } else {
    schema["type"] = json::array({"integer", "string"});
    schema["pattern"] = std::string(is_unsigned ? unsigned_text_pattern : integer_text_pattern);
  }
  if (is_unsigned) schema["minimum"] = 0;
  return schema;
}

json scalar_schema(const FieldDescriptor* field, SchemaMode mode) {
  switch (field->type()) {
    case FieldDescriptor::TYPE_INT32:
    case FieldDescriptor::TYPE_SINT32:
    case FieldDescriptor::TYPE_SFIXED32: return integer_schema("int32", false, mode);
    case FieldDescriptor::TYPE_UINT32:
    case FieldDescriptor::TYPE_FIXED32: return integer_schema("uint32", true, mode);
    case FieldDescriptor::TYPE_INT64:
    case FieldDescriptor::TYPE_SINT64:
    case FieldDescriptor::TYPE_SFIXED64: return integer_schema("int64", false, mode);
    case FieldDescriptor::TYPE_UINT64:
    case FieldDescriptor::TYPE_FIXED64: return integer_schema("uint64", true, mode);
    // The codec refuses fractions and non-finite numbers in input (json_codec.cpp).
    case FieldDescriptor::TYPE_DOUBLE: return {{"type", "number"}, {"format", "double"}};
    case FieldDescriptor::TYPE_FLOAT: return {{"type", "number"}, {"format", "float"}};
    case FieldDescriptor::TYPE_BOOL: return {{"type", "boolean"}};
    case FieldDescriptor::TYPE_STRING: return {{"type", "string"}};
    case FieldDescriptor::TYPE_BYTES:
      // Protobuf's parser wants base64; our writer writes the bytes as a JSON string.
      if (mode == SchemaMode::input) return {{"type", "string"}, {"contentEncoding", "base64"}};
      return {{"type", "string"}};
    case FieldDescriptor::TYPE_ENUM: {
      json names = json::array();
      const auto* type = field->enum_type();
      for (int i = 0; i < type->value_count(); ++i) names.push_back(type->value(i)->name());
      json by_name{{"type", "string"}, {"enum", names}};
      if (mode == SchemaMode::output) return by_name;
      return {{"anyOf", json::array({by_name, {{"type", "integer"}, {"format", "int32"}}})}};
    }
    case FieldDescriptor::TYPE_MESSAGE:
    case FieldDescriptor::TYPE_GROUP: break;
  }
  throw std::logic_error("openapi: no scalar schema for " + field->full_name());
}

}  // namespace

json well_known_schema(const Descriptor* message, SchemaMode mode) {
  const std::string& name = message->full_name();
  if (name == "google.protobuf.Struct") return {{"type", "object"}};
  if (name == "google.protobuf.Value") return json::object();  // any JSON value
  if (name == "google.protobuf.ListValue") return {{"type", "array"}};
  if (name == "google.protobuf.Empty") return {{"type", "object"}};
  if (name == "google.protobuf.Timestamp") return {{"type", "string"}, {"format", "date-time"}};
  if (name == "google.protobuf.Duration") return {{"type", "string"}, {"pattern", "^-?[0-9]+(\\.[0-9]+)?s$"}};
  if (name == "google.protobuf.FieldMask") return {{"type", "string"}};
  if (name.starts_with("google.protobuf.") && name.ends_with("Value") && message->field_count() == 1) {
    // Wrappers: the wrapped scalar, or null.
    json schema = scalar_schema(message->field(0), mode);
    json type = schema["type"];
    if (type.is_string()) type = json::array({type});
    type.push_back("null");
    schema["type"] = type;
    return schema;
  }
  return nullptr;
}

SchemaSet::SchemaSet(std::map<std::string, json> field_overrides) : overrides_(std::move(field_overrides)) {}

std::string SchemaSet::component_name(const Descriptor* message, SchemaMode mode) {
  std::string name = message->full_name();
  const std::string& package = message->file()->package();
  if (!package.empty()) name = name.substr(package.size() + 1);
  if (mode == SchemaMode::input && !name.ends_with("Request") && !name.ends_with("Input")) name += "Input";
  return name;
}

json SchemaSet::reference(const Descriptor* message, SchemaMode mode) {
  if (json inline_schema = well_known_schema(message, mode); !inline_schema.is_null()) return inline_schema;
  const std::string name = component_name(message, mode);
  const std::string origin = message->full_name() + (mode == SchemaMode::input ? " (input)" : " (output)");
  const auto made = made_from_.find(name);
  if (made == made_from_.end()) {
    made_from_[name] = origin;
    components_[name] = json::object();  // a placeholder: a message may hold itself
    components_[name] = message_schema(message, mode);
  } else if (made->second != origin) {
    throw std::logic_error("openapi: the schema name " + name + " stands for both " + made->second + " and " + origin);
  }
  return {{"$ref", "#/components/schemas/" + name}};
}

json SchemaSet::value_schema(const FieldDescriptor* field, SchemaMode mode) {
  if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) return reference(field->message_type(), mode);
  return scalar_schema(field, mode);
}

json SchemaSet::field_schema(const FieldDescriptor* field, SchemaMode mode) {
  if (const auto found = overrides_.find(field->full_name()); found != overrides_.end()) return found->second;
  if (field->is_map()) {
    // Keys are JSON object keys (text) whatever their type; our writer sorts them.
    return {{"type", "object"}, {"additionalProperties", value_schema(field->message_type()->map_value(), mode)}};
  }
  if (field->is_repeated()) return {{"type", "array"}, {"items", value_schema(field, mode)}};
  return value_schema(field, mode);
}

json SchemaSet::message_schema(const Descriptor* message, SchemaMode mode) {
  json properties = json::object();
  json required = json::array();
  for (int i = 0; i < message->field_count(); ++i) {
    const FieldDescriptor* field = message->field(i);
    properties[field->name()] = field_schema(field, mode);
    // json_codec.cpp writes every field that has no presence, whatever its value.
    if (mode == SchemaMode::output && !field->has_presence()) required.push_back(field->name());
  }
  json schema{{"type", "object"}, {"properties", properties}, {"x-protobuf-message", message->full_name()}};
  if (!required.empty()) schema["required"] = required;
  if (mode == SchemaMode::input) {
    schema["description"] = "Fields may also be named in lowerCamelCase; a field " + message->name() +
                            " does not have is refused (400 malformed_request).";
  }
  // A real oneof (not a proto3 `optional`): at most one of its members is present.
  json at_most_one = json::array();
  for (int i = 0; i < message->real_oneof_decl_count(); ++i) {
    const auto* oneof = message->oneof_decl(i);
    json alone = json::array();
    json any_member = json::array();
    for (int j = 0; j < oneof->field_count(); ++j) {
      const json member_present{{"required", json::array({oneof->field(j)->name()})}};
      any_member.push_back(member_present);
      json others = json::array();
      for (int k = 0; k < oneof->field_count(); ++k) {
        if (k != j) others.push_back({{"required", json::array({oneof->field(k)->name()})}});
      }
      json only_this = member_present;
      if (!others.empty()) only_this = {{"allOf", json::array({member_present, {{"not", {{"anyOf", others}}}}})}};
      alone.push_back(only_this);
    }
    alone.push_back({{"not", {{"anyOf", any_member}}}});
    at_most_one.push_back({{"anyOf", alone}, {"x-oneof", oneof->name()}});
  }
  if (!at_most_one.empty()) schema["allOf"] = at_most_one;
  return schema;
}

}  // namespace loyalty::api
