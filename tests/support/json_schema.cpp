#include "tests/support/json_schema.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <regex>

namespace loyalty::testing {
namespace {

using nlohmann::json;

constexpr int depth_max = 64;  // a $ref cycle without data to descend into would loop

bool has_type(const json& value, const std::string& type) {
  if (type == "object") return value.is_object();
  if (type == "array") return value.is_array();
  if (type == "string") return value.is_string();
  if (type == "boolean") return value.is_boolean();
  if (type == "null") return value.is_null();
  if (type == "number") return value.is_number();
  if (type == "integer") {
    if (value.is_number_integer()) return true;
    if (!value.is_number_float()) return false;
    const double number = value.get<double>();
    return std::isfinite(number) && number == static_cast<double>(static_cast<std::int64_t>(number));
  }
  return false;
}

// Whether an integer (a number, or a decimal string) fits the format's range.
bool fits_format(const json& value, const std::string& format) {
  const bool is_unsigned = format == "uint32" || format == "uint64";
  const bool is_32 = format == "int32" || format == "uint32";
  long double low = is_unsigned
                        ? 0.0L
                        : (is_32 ? std::numeric_limits<std::int32_t>::min() : std::numeric_limits<std::int64_t>::min());
  long double high =
      is_32 ? (is_unsigned ? std::numeric_limits<std::uint32_t>::max() : std::numeric_limits<std::int32_t>::max())
            : (is_unsigned ? static_cast<long double>(std::numeric_limits<std::uint64_t>::max())
                           : static_cast<long double>(std::numeric_limits<std::int64_t>::max()));
  if (value.is_number_unsigned()) return static_cast<long double>(value.get<std::uint64_t>()) <= high;
  if (value.is_number_integer()) {
    const auto number = static_cast<long double>(value.get<std::int64_t>());
    return number >= low && number <= high;
  }
  if (value.is_number_float()) return false;  // beyond every integer type json parses into
  if (!value.is_string()) return true;
  const std::string& text = value.get_ref<const std::string&>();
  if (is_unsigned) {
    std::uint64_t number = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
    return error == std::errc{} && end == text.data() + text.size() && static_cast<long double>(number) <= high;
  }
  std::int64_t number = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
  return error == std::errc{} && end == text.data() + text.size() && number >= low && number <= high;
}

void collect_references(const json& node, const std::string& path, std::vector<std::string>& out) {
  if (node.is_object()) {
    for (const auto& [key, child] : node.items()) {
      if (key == "$ref" && child.is_string()) out.push_back(child.get<std::string>() + " (at " + path + ")");
      collect_references(child, path + "/" + key, out);
    }
  } else if (node.is_array()) {
    for (std::size_t i = 0; i < node.size(); ++i) collect_references(node[i], path + "/" + std::to_string(i), out);
  }
}

}  // namespace

const json* SchemaValidator::resolve(const std::string& reference) const {
  if (!reference.starts_with("#")) return nullptr;
  try {
    const json::json_pointer pointer{reference.substr(1)};
    if (!document_.contains(pointer)) return nullptr;
    return &document_.at(pointer);
  } catch (const json::exception&) {
    return nullptr;
  }
}

std::vector<std::string> SchemaValidator::validate(const json& value, const json& schema, bool strict) const {
  std::vector<std::string> problems;
  check(value, schema, "$", strict, problems, 0);
  return problems;
}

void SchemaValidator::check(const json& value, const json& schema, const std::string& path, bool strict,
                            std::vector<std::string>& problems, int depth) const {
  if (depth > depth_max) {
    problems.push_back(path + ": schemas nest deeper than " + std::to_string(depth_max));
    return;
  }
  if (schema.is_boolean()) {
    if (!schema.get<bool>()) problems.push_back(path + ": no value is allowed here");
    return;
  }
  if (!schema.is_object()) {
    problems.push_back(path + ": the schema is not an object");
    return;
  }
  if (const auto found = schema.find("$ref"); found != schema.end()) {
    const json* target = resolve(found->get<std::string>());
    if (!target) {
      problems.push_back(path + ": $ref " + found->get<std::string>() + " resolves to nothing");
      return;
    }
    check(value, *target, path, strict, problems, depth + 1);
  }
  if (!check_value(value, schema, path, problems)) return;  // the wrong type: nothing below applies
  check_members(value, schema, path, strict, problems, depth);
  check_combinations(value, schema, path, strict, problems, depth);
}

// type, enum, format, pattern, minimum, maximum. False when the value is not of the type.
bool SchemaValidator::check_value(const json& value, const json& schema, const std::string& path,
                                  std::vector<std::string>& problems) const {
  const auto fail = [&](const std::string& what) { problems.push_back(path + ": " + what); };
  if (const auto found = schema.find("type"); found != schema.end()) {
    bool any = false;
    if (found->is_string()) {
      any = has_type(value, found->get<std::string>());
    } else {
      for (const auto& type : *found) any = any || has_type(value, type.get<std::string>());
    }
    if (!any) {
      fail("is " + std::string(value.type_name()) + ", not " + found->dump());
      return false;
    }
  }
  if (const auto found = schema.find("enum"); found != schema.end()) {
    if (std::find(found->begin(), found->end(), value) == found->end())
      fail(value.dump() + " is not one of " + found->dump());
  }
  if (const auto found = schema.find("format"); found != schema.end() && found->is_string()) {
    const std::string format = found->get<std::string>();
    const bool integer_format = format == "int32" || format == "int64" || format == "uint32" || format == "uint64";
    if (integer_format && !fits_format(value, format)) fail(value.dump() + " is not a " + format);
  }
  if (value.is_string()) {
    if (const auto found = schema.find("pattern"); found != schema.end()) {
      if (!std::regex_search(value.get<std::string>(), std::regex(found->get<std::string>()))) {
        fail(value.dump() + " does not match " + found->get<std::string>());
      }
    }
  }
  if (value.is_number()) {
    if (const auto found = schema.find("minimum");
        found != schema.end() && value.get<double>() < found->get<double>()) {
      fail(value.dump() + " is below " + found->dump());
    }
    if (const auto found = schema.find("maximum");
        found != schema.end() && value.get<double>() > found->get<double>()) {
      fail(value.dump() + " is above " + found->dump());
    }
  }
  return true;
}

// required, properties, additionalProperties, items.
void SchemaValidator::check_members(const json& value, const json& schema, const std::string& path, bool strict,
                                    std::vector<std::string>& problems, int depth) const {
  if (value.is_object()) {
    const auto properties = schema.find("properties");
    if (const auto required = schema.find("required"); required != schema.end()) {
      for (const auto& name : *required) {
        if (!value.contains(name.get<std::string>()))
          problems.push_back(path + ": lacks the required " + name.get<std::string>());
      }
    }
    const auto additional = schema.find("additionalProperties");
    for (const auto& [name, member] : value.items()) {
      const std::string at = path + "." + name;
      if (properties != schema.end() && properties->contains(name)) {
        check(member, properties->at(name), at, strict, problems, depth + 1);
      } else if (additional != schema.end()) {
        check(member, *additional, at, strict, problems, depth + 1);
      } else if (strict && properties != schema.end()) {
        problems.push_back(at + ": not a property of the schema");
      }
    }
  }
  if (value.is_array()) {
    if (const auto items = schema.find("items"); items != schema.end()) {
      for (std::size_t i = 0; i < value.size(); ++i) {
        check(value[i], *items, path + "[" + std::to_string(i) + "]", strict, problems, depth + 1);
      }
    }
  }
}

// allOf, anyOf, oneOf, not.
void SchemaValidator::check_combinations(const json& value, const json& schema, const std::string& path, bool strict,
                                         std::vector<std::string>& problems, int depth) const {
  const auto passes = [&](const json& sub) {
    std::vector<std::string> found;
    check(value, sub, path, strict, found, depth + 1);
    return found.empty();
  };
  if (const auto found = schema.find("allOf"); found != schema.end()) {
    for (const auto& sub : *found) check(value, sub, path, strict, problems, depth + 1);
  }
  if (const auto found = schema.find("anyOf"); found != schema.end()) {
    if (std::none_of(found->begin(), found->end(), passes)) problems.push_back(path + ": matches none of anyOf");
  }
  if (const auto found = schema.find("oneOf"); found != schema.end()) {
    const auto matching = std::count_if(found->begin(), found->end(), passes);
    if (matching != 1)
      problems.push_back(path + ": matches " + std::to_string(matching) + " of oneOf, not exactly one");
  }
  if (const auto found = schema.find("not"); found != schema.end()) {
    if (passes(*found)) problems.push_back(path + ": matches the schema under not");
  }
}

std::vector<std::string> unresolved_references(const json& document) {
  std::vector<std::string> references;
  collect_references(document, "#", references);
  std::vector<std::string> unresolved;
  for (const auto& reference : references) {
    const std::string target = reference.substr(0, reference.find(" (at "));
    if (!target.starts_with("#/")) {
      unresolved.push_back(reference);
      continue;
    }
    try {
      if (!document.contains(json::json_pointer{target.substr(1)})) unresolved.push_back(reference);
    } catch (const json::exception&) {
      unresolved.push_back(reference);
    }
  }
  return unresolved;
}

}  // namespace loyalty::testing
