// The JSON and binary encodings of API messages, from the one .proto schema.
//
// Input: protobuf's JSON parser (snake_case or lowerCamelCase names, int64 as number or
// decimal string), after a scan that refuses any non-integer number (the API has no
// fractional fields: an amount of 1.5 or 1e3 is a client's mistake, not something to round).
// Unknown fields are refused: a misspelt field must not be silently ignored.
//
// Both encodings are held to the same bounds (api/limits.hpp), checked before a parser sees
// the text where a parser could be hurt (nesting depth), and on the parsed message otherwise:
// nesting depth, list sizes, text length, UTF-8 without NUL, whole finite numbers, and no
// unknown fields (binary parsing would otherwise keep them silently).
//
// Output: our own writer over protobuf reflection, because protobuf 3.21's printer quotes
// 64-bit integers; the contract wants every amount as a JSON number. Map keys are sorted so
// that the same message always encodes to the same bytes (idempotent replays rely on it).
#pragma once

#include <google/protobuf/message.h>

#include <optional>
#include <string>
#include <string_view>

namespace loyalty::api {

// nullopt on success, else a sentence saying what is wrong with the body.
std::optional<std::string> parse_json(std::string_view body, google::protobuf::Message& message);
std::optional<std::string> parse_binary(std::string_view body, google::protobuf::Message& message);

std::string to_json(const google::protobuf::Message& message);
std::string to_binary(const google::protobuf::Message& message);  // deterministic

}  // namespace loyalty::api
