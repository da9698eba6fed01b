// Program documents: YAML (the operator's file) or JSON (PUT /v1/program) → a validated
// Program. Validation looks at the whole document and lists every problem with its path
// ("rules[2].award.asset: ..."); a document with any problem is refused as a whole.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "program/program.hpp"

namespace loyalty::program {

struct DocumentProblems {
  std::vector<std::string> problems;
};

// YAML text → the JSON form of the same document (integers stay integers, quoted scalars
// stay strings). Problems only for text that is not YAML.
std::variant<nlohmann::json, DocumentProblems> yaml_to_json(std::string_view yaml_text);

std::variant<Program, DocumentProblems> parse_program(const nlohmann::json& document);

}  // namespace loyalty::program
