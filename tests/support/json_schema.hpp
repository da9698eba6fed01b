// A JSON Schema validator for the subset the OpenAPI document uses (api/openapi_schema.hpp and
// the catalogue's hand-written schemas): type (one or a list), properties, required,
// additionalProperties, items, $ref (JSON pointers into the document), enum, anyOf, oneOf,
// allOf, not, pattern, minimum, maximum, and format int32/int64/uint32/uint64 (an integer in
// range, or a decimal string of one where the type allows strings). Keywords it does not know
// are ignored, as JSON Schema says; tests/unit/openapi_test.cpp shows it refusing what it must.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace loyalty::testing {

class SchemaValidator {
 public:
  // `document` is what "#/..." references point into.
  explicit SchemaValidator(const nlohmann::json& document) : document_(document) {}

  // Every problem, "path: what" (empty: valid). Strict: an object property the schema does not
  // list is a problem even without additionalProperties (an example with a misspelt field).
  std::vector<std::string> validate(const nlohmann::json& value, const nlohmann::json& schema,
                                    bool strict = false) const;

 private:
  void check(const nlohmann::json& value, const nlohmann::json& schema, const std::string& path, bool strict,
             std::vector<std::string>& problems, int depth) const;
  bool check_value(const nlohmann::json& value, const nlohmann::json& schema, const std::string& path,
                   std::vector<std::string>& problems) const;
  void check_members(const nlohmann::json& value, const nlohmann::json& schema, const std::string& path, bool strict,
                     std::vector<std::string>& problems, int depth) const;
  void check_combinations(const nlohmann::json& value, const nlohmann::json& schema, const std::string& path,
                          bool strict, std::vector<std::string>& problems, int depth) const;
  const nlohmann::json* resolve(const std::string& reference) const;

  const nlohmann::json& document_;
};

// Every "$ref" in `document` that names nothing in it.
std::vector<std::string> unresolved_references(const nlohmann::json& document);

}  // namespace loyalty::testing
