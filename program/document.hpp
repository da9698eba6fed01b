// Program documents: YAML (the operator's file) or JSON (PUT /v1/program) → a validated
// Program. Validation looks at the whole document and lists every problem with its path
// ("rules[2].award.asset: ..."); a document with any problem is refused as a whole.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "program/program.hpp"

namespace loyalty::program {

struct DocumentProblems {
  std::vector<std::string> problems;
};

// Bounds of a document, whatever its encoding, checked before a parser sees the text (the
// parsers recurse) or while it is converted. The service passes api::limits::json_depth_max
// as the depth (program_routes.cpp asserts the default agrees with it).
inline constexpr std::size_t document_depth_max = 32;
inline constexpr std::size_t document_nodes_max = 100'000;    // after YAML aliases are expanded
inline constexpr std::size_t document_text_bytes_max = 1000;  // any one string of the document

// YAML text → the JSON form of the same document (integers stay integers, quoted scalars
// stay strings). Problems for text that is not YAML, nests deeper than `depth_max`, expands
// (through aliases) beyond document_nodes_max values, or holds text that is not UTF-8.
std::variant<nlohmann::json, DocumentProblems> yaml_to_json(std::string_view yaml_text,
                                                            std::size_t depth_max = document_depth_max);

// JSON text → the document, with the same bounds; problems for text that is not a JSON object.
std::variant<nlohmann::json, DocumentProblems> json_text_to_document(std::string_view json_text,
                                                                     std::size_t depth_max = document_depth_max);

// The nesting depth of a JSON text (objects and arrays, outside strings) goes beyond
// `depth_max`; counted without parsing, so that a parser never meets such a text.
bool json_nests_deeper_than(std::string_view json_text, std::size_t depth_max);

std::variant<Program, DocumentProblems> parse_program(const nlohmann::json& document);

}  // namespace loyalty::program
