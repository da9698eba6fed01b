// JSON Schemas (the OpenAPI 3.1 dialect) of API messages, generated from their Protobuf
// descriptors as api/json_codec.cpp reads and writes them, so the schema cannot drift from
// the encoding:
//
// - field names are the .proto names (snake_case), as the codec writes them;
// - output (a response): every field without presence is always written (scalars at their
//   default, lists as [], maps as {}), so it is `required`; `optional` fields, message fields
//   and oneof members appear only when set; int64 is a JSON number (our writer, not
//   protobuf's, which quotes them);
// - input (a request body): no field is required by the parser (the handlers say what they
//   require, in a 422), int64 and int32 are a number or a decimal string, enums a name or a
//   number, and a field the message does not have is refused (400 malformed_request);
// - enums are their value names; repeated fields arrays; maps objects; nested messages
//   `$ref`s into components/schemas; a real oneof allows at most one of its members;
// - google.protobuf.Struct, Value and ListValue are the JSON object, value and array they
//   stand for.
//
// Overrides replace the schema of one field where a route writes it by hand (the event
// feed's `data` is the event's JSON object in JSON, its text in binary).
#pragma once

#include <google/protobuf/descriptor.h>

#include <map>
#include <string>

#include <nlohmann/json.hpp>

namespace loyalty::api {

enum class SchemaMode { output, input };

class SchemaSet {
 public:
  // Keyed by the field's full name ("loyalty.v1.FeedEvent.data").
  explicit SchemaSet(std::map<std::string, nlohmann::json> field_overrides = {});

  // {"$ref": "#/components/schemas/NAME"}, adding the message's schema (and the schemas of
  // the messages it holds) to the set when it is not there yet. Well-known types whose JSON
  // form is not an object of fields (Struct, Value, Timestamp...) are given inline.
  nlohmann::json reference(const google::protobuf::Descriptor* message, SchemaMode mode);

  // The components/schemas object: every schema referred to so far, by name.
  const nlohmann::json& components() const { return components_; }

  // A message's component name: its name in its package ("Member"; a nested one
  // "Outer.Inner"); in input mode "NameInput", except for messages named "...Request" or
  // "...Input", which are only ever read.
  static std::string component_name(const google::protobuf::Descriptor* message, SchemaMode mode);

 private:
  nlohmann::json message_schema(const google::protobuf::Descriptor* message, SchemaMode mode);
  nlohmann::json field_schema(const google::protobuf::FieldDescriptor* field, SchemaMode mode);
  nlohmann::json value_schema(const google::protobuf::FieldDescriptor* field, SchemaMode mode);

  std::map<std::string, nlohmann::json> overrides_;
  std::map<std::string, std::string> made_from_;  // component name → message full name + mode
  nlohmann::json components_ = nlohmann::json::object();
};

// The inline schema of a well-known type, or null when `message` is not one.
nlohmann::json well_known_schema(const google::protobuf::Descriptor* message, SchemaMode mode);

}  // namespace loyalty::api
