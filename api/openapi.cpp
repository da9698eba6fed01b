#include "api/openapi.hpp"

#include <google/protobuf/descriptor.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <map>
#include <set>
#include <stdexcept>

#include "api/openapi_schema.hpp"
#include "api/proto/loyalty/v1/access.pb.h"
#include "api/proto/loyalty/v1/finance.pb.h"
#include "api/proto/loyalty/v1/loyalty.pb.h"
#include "api/proto/loyalty/v1/orders.pb.h"
#include "api/proto/loyalty/v1/partners.pb.h"
#include "api/proto/loyalty/v1/webhooks.pb.h"

namespace loyalty::api {
namespace {

using google::protobuf::Descriptor;
using nlohmann::json;

constexpr const char* message_package = "loyalty.v1.";
constexpr const char* problem_media_type = "application/problem+json";
constexpr const char* protobuf_media_type = "application/x-protobuf";

// The messages are looked up by name in the generated pool, which holds the .proto files
// whose code is linked in: naming one message of each file makes sure all of them are.
void link_every_proto_file() {
  (void)v1::ApiKey::descriptor();
  (void)v1::Export::descriptor();
  (void)v1::Problem::descriptor();
  (void)v1::Order::descriptor();
  (void)v1::PartnerResource::descriptor();
  (void)v1::Webhook::descriptor();
}

std::string method_key(http::verb method) {
  std::string name(http::to_string(method));
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

std::string route_name(http::verb method, std::string_view path) {
  return std::string(http::to_string(method)) + " " + std::string(path);
}

// get /v1/members/{member_id}/balances → get_v1_members_member_id_balances
std::string operation_id(http::verb method, std::string_view pattern) {
  std::string id = method_key(method);
  bool separator = true;
  for (const char c : pattern) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      if (separator) id += '_';
      id += c;
      separator = false;
    } else {
      separator = true;
    }
  }
  return id;
}

// The first segment that names a resource: /v1/members/... → members; /partner/v1/... → partner.
std::string tag_of(const Route& route) {
  if (route.segments.size() >= 2 && route.segments[0] == "partner") return "partner";
  if (route.segments.size() >= 2 && route.segments[0] == "v1") return route.segments[1];
  return "operations";
}

bool is_parameter(const std::string& segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

// "404 member_not_found, 422 validation_failed" → {404: [member_not_found], 422: [...]}
using ProblemCodes = std::map<int, std::vector<std::string>>;

void add_problem(ProblemCodes& codes, int status, const std::string& code) {
  auto& list = codes[status];
  if (std::find(list.begin(), list.end(), code) == list.end()) list.push_back(code);
}

bool parse_problems(std::string_view text, ProblemCodes& codes) {
  while (!text.empty()) {
    while (!text.empty() && (text.front() == ' ' || text.front() == ',')) text.remove_prefix(1);
    if (text.empty()) break;
    const auto end = std::min(text.find(','), text.size());
    const std::string_view item = text.substr(0, end);
    text.remove_prefix(end);
    const auto space = item.find(' ');
    int status = 0;
    if (space == std::string_view::npos) return false;
    const auto [at, error] = std::from_chars(item.data(), item.data() + space, status);
    if (error != std::errc{} || at != item.data() + space || status < 400 || status > 599) return false;
    std::string code(item.substr(space + 1));
    while (!code.empty() && code.back() == ' ') code.pop_back();
    if (code.empty() || code.find_first_not_of("abcdefghijklmnopqrstuvwxyz_") != std::string::npos) return false;
    add_problem(codes, status, code);
  }
  return true;
}

// What every route of its kind can answer, whatever its handler does.
void add_common_problems(const Route& route, const OperationDoc& row, ProblemCodes& codes) {
  add_problem(codes, 400, "malformed_request");  // a path or query that is not UTF-8 text
  add_problem(codes, 429, "rate_limited");
  add_problem(codes, 500, "internal_error");
  switch (route.access) {
    case Access::open: break;
    case Access::api_key:
      add_problem(codes, 401, "unauthenticated");
      add_problem(codes, 401, "key_revoked");
      add_problem(codes, 403, "forbidden");
      break;
    case Access::partner:
      for (const char* code :
           {"invalid_signature", "stale_timestamp", "unknown_key", "key_revoked", "replayed_request"}) {
        add_problem(codes, 401, code);
      }
      break;
  }
  if (route.access != Access::open) {
    for (const char* code : {"database_unavailable", "overloaded", "busy"}) add_problem(codes, 503, code);
  }
  if (!row.request.empty() || !row.raw_request.media_type.empty()) {
    add_problem(codes, 413, "payload_too_large");
    add_problem(codes, 415, "unsupported_media_type");
  }
  if (row.idempotency != IdempotencyKey::ignored) {
    add_problem(codes, 400, "validation_failed");  // a missing (when required) or malformed key
    add_problem(codes, 409, "idempotency_key_reused");
    add_problem(codes, 503, "commit_in_doubt");
  }
}

json ref(std::string_view section, std::string_view name) {
  return {{"$ref", "#/components/" + std::string(section) + "/" + std::string(name)}};
}

class DocumentBuilder {
 public:
  explicit DocumentBuilder(SchemaSet& schemas) : schemas_(schemas) {}

  std::vector<std::string> errors;

  json operation(const Route& route, const OperationDoc& row) {
    const std::string where = route_name(route.method, route.pattern);
    json op{{"operationId", operation_id(route.method, route.pattern)},
            {"summary", std::string(row.summary)},
            {"tags", json::array({tag_of(route)})}};
    std::string description(row.description);
    if (!description.empty()) description += "\n\n";
    switch (route.access) {
      case Access::open:
        description += "Open: no credentials.";
        op["security"] = json::array();
        break;
      case Access::api_key: {
        json roles = json::array();
        std::string names;
        for (const Role role : route.roles) {
          roles.push_back(role_name(role));
          names += std::string(names.empty() ? "" : ", ") + role_name(role);
        }
        description += "API key roles: " + names + ".";
        op["x-roles"] = roles;
        op["security"] = json::array({{{"apiKey", json::array()}}});
        break;
      }
      case Access::partner:
        description += "Signed by a partner (the partnerSignature scheme); the response is signed by us.";
        op["security"] = json::array({{{"partnerSignature", json::array()}}});
        break;
    }
    op["description"] = description;
    op["parameters"] = parameters(route, row);
    if (auto body = request_body(row, where); !body.is_null()) op["requestBody"] = body;
    op["responses"] = responses(route, row, where);
    return op;
  }

 private:
  const Descriptor* message(std::string_view name, const std::string& where) {
    const auto* found = google::protobuf::DescriptorPool::generated_pool()->FindMessageTypeByName(
        std::string(message_package) + std::string(name));
    if (!found) errors.push_back(where + ": no message loyalty.v1." + std::string(name));
    return found;
  }

  json parsed(std::string_view text, const std::string& what) {
    json value = json::parse(text, nullptr, false);
    if (value.is_discarded()) {
      errors.push_back(what + " is not JSON");
      return nullptr;
    }
    return value;
  }

  json parameters(const Route& route, const OperationDoc& row) {
    json list = json::array();
    for (const auto& segment : route.segments) {
      if (!is_parameter(segment)) continue;
      list.push_back({{"name", segment.substr(1, segment.size() - 2)},
                      {"in", "path"},
                      {"required", true},
                      {"schema", {{"type", "string"}}}});
    }
    for (const auto& query : row.query) {
      json schema = query.schema_json.empty()
                        ? json{{"type", "string"}}
                        : parsed(query.schema_json, "the schema of query parameter " + std::string(query.name));
      json parameter{{"name", std::string(query.name)}, {"in", "query"}, {"schema", schema}};
      if (!query.description.empty()) parameter["description"] = std::string(query.description);
      if (query.required) parameter["required"] = true;
      list.push_back(parameter);
    }
    if (row.paged) {
      list.push_back(ref("parameters", "limit"));
      list.push_back(ref("parameters", "cursor"));
    }
    if (row.idempotency == IdempotencyKey::accepted) list.push_back(ref("parameters", "IdempotencyKey"));
    if (row.idempotency == IdempotencyKey::required) list.push_back(ref("parameters", "IdempotencyKeyRequired"));
    if (route.access == Access::partner) {
      for (const char* name : {"XPartnerId", "XKeyId", "XTimestamp", "XNonce"}) list.push_back(ref("parameters", name));
    }
    return list;
  }

  json request_body(const OperationDoc& row, const std::string& where) {
    json content = json::object();
    if (!row.request.empty()) {
      const Descriptor* descriptor = message(row.request, where);
      if (!descriptor) return nullptr;
      json media{{"schema", schemas_.reference(descriptor, SchemaMode::input)}};
      if (!row.request_example.empty()) media["example"] = parsed(row.request_example, where + " request example");
      content["application/json"] = media;
      content[protobuf_media_type] = protobuf_media(descriptor);
    } else if (!row.raw_request.media_type.empty()) {
      json media{{"schema", parsed(row.raw_request.schema_json, where + " request schema")}};
      if (!row.request_example.empty()) media["example"] = parsed(row.request_example, where + " request example");
      content[std::string(row.raw_request.media_type)] = media;
      return {{"required", true}, {"content", content}};
    } else {
      if (!row.request_example.empty()) errors.push_back(where + ": a request example without a request body");
      return nullptr;
    }
    // An empty body is the empty message: a request without fields may be sent without a body.
    return {{"required", false}, {"content", content}};
  }

  static json protobuf_media(const Descriptor* descriptor) {
    return {{"schema",
             {{"type", "string"},
              {"contentMediaType", protobuf_media_type},
              {"description", "The binary Protobuf encoding of " + descriptor->full_name() + "."},
              {"x-protobuf-message", descriptor->full_name()}}}};
  }

  json success_content(const OperationDoc& row, const std::string& where) {
    json content = json::object();
    if (!row.response.empty()) {
      const Descriptor* descriptor = message(row.response, where);
      if (!descriptor) return content;
      json media{{"schema", schemas_.reference(descriptor, SchemaMode::output)}};
      if (!row.response_example.empty()) media["example"] = parsed(row.response_example, where + " response example");
      content["application/json"] = media;
      content[protobuf_media_type] = protobuf_media(descriptor);
    }
    for (const auto& raw : row.raw_responses) {
      json media{{"schema", parsed(raw.schema_json, where + " response schema")}};
      if (!row.response_example.empty() && raw.media_type == "application/json") {
        media["example"] = parsed(row.response_example, where + " response example");
      }
      content[std::string(raw.media_type)] = media;
    }
    if (row.response.empty() && row.raw_responses.empty()) errors.push_back(where + ": no response body described");
    return content;
  }

  json responses(const Route& route, const OperationDoc& row, const std::string& where) {
    json headers = json::object();
    headers["X-Request-Id"] = ref("headers", "X-Request-Id");
    if (is_partner_route(route)) {
      headers["X-Signature"] = ref("headers", "X-Signature");
      headers["X-Key-Id"] = ref("headers", "X-Key-Id");
    }
    json success_headers = headers;
    if (row.location) success_headers["Location"] = ref("headers", "Location");
    if (row.idempotency != IdempotencyKey::ignored)
      success_headers["Idempotent-Replayed"] = ref("headers", "Idempotent-Replayed");

    json out = json::object();
    const json content = success_content(row, where);
    out[std::to_string(row.status)] = {
        {"description", std::string(row.summary)}, {"headers", success_headers}, {"content", content}};
    for (const auto& other : row.other_responses) {
      json response{{"description", std::string(other.description)}, {"headers", success_headers}};
      if (other.same_body) response["content"] = content;
      out[std::to_string(other.status)] = response;
    }

    ProblemCodes codes;
    if (!parse_problems(row.problems, codes))
      errors.push_back(where + ": problems are not \"STATUS code, ...\": " + std::string(row.problems));
    add_common_problems(route, row, codes);
    for (const auto& [status, list] : codes) {
      std::string description = "A problem (RFC 9457); code ";
      json code_list = json::array();
      for (std::size_t i = 0; i < list.size(); ++i) {
        description += (i ? ", " : "") + list[i];
        code_list.push_back(list[i]);
      }
      json problem_headers = headers;
      if (status == 429 || status == 503) problem_headers["Retry-After"] = ref("headers", "Retry-After");
      if (status == 401 && route.access == Access::api_key)
        problem_headers["WWW-Authenticate"] = ref("headers", "WWW-Authenticate");
      json media{{"schema", ref("schemas", "Problem")}};
      const std::string key = std::to_string(status);
      if (out.contains(key)) {
        // A status the route also answers with a body of its own (/readyz's 503): both bodies.
        out[key]["description"] = out[key]["description"].get<std::string>() + "; or " + description + ".";
        out[key]["content"][problem_media_type] = media;
        out[key]["x-problem-codes"] = code_list;
        for (const auto& [name, header] : problem_headers.items()) out[key]["headers"][name] = header;
        continue;
      }
      out[key] = {{"description", description + "."},
                  {"headers", problem_headers},
                  {"content", {{problem_media_type, media}}},
                  {"x-problem-codes", code_list}};
    }
    return out;
  }

  static bool is_partner_route(const Route& route) { return !route.segments.empty() && route.segments[0] == "partner"; }

  SchemaSet& schemas_;
};

json components_parameters() {
  json parameters = json::object();
  parameters["limit"] = {{"name", "limit"},
                         {"in", "query"},
                         {"description", "Page size (422 validation_failed outside 1-500)."},
                         {"schema", {{"type", "integer"}, {"minimum", 1}, {"maximum", 500}, {"default", 50}}}};
  parameters["cursor"] = {{"name", "cursor"},
                          {"in", "query"},
                          {"description", "The next_cursor of the previous page (opaque)."},
                          {"schema", {{"type", "string"}}}};
  const json key_schema{{"type", "string"}, {"pattern", "^[A-Za-z0-9_.:-]{1,128}$"}};
  const std::string key_text =
      "A retry with the same key and the same request answers the first answer (Idempotent-Replayed: true); "
      "the same key with another request is 409 idempotency_key_reused. Keys are kept 7 days, per caller.";
  parameters["IdempotencyKey"] = {
      {"name", "Idempotency-Key"}, {"in", "header"}, {"description", key_text}, {"schema", key_schema}};
  parameters["IdempotencyKeyRequired"] = {
      {"name", "Idempotency-Key"},
      {"in", "header"},
      {"required", true},
      {"description", key_text + " Required here (400 validation_failed without it)."},
      {"schema", key_schema}};
  parameters["XPartnerId"] = {{"name", "X-Partner-Id"},
                              {"in", "header"},
                              {"required", true},
                              {"description", "The partner's id."},
                              {"schema", {{"type", "string"}}}};
  parameters["XKeyId"] = {{"name", "X-Key-Id"},
                          {"in", "header"},
                          {"required", true},
                          {"description", "The id of the partner key that signed."},
                          {"schema", {{"type", "string"}}}};
  parameters["XTimestamp"] = {
      {"name", "X-Timestamp"},
      {"in", "header"},
      {"required", true},
      {"description", "Unix seconds; at most 300 s from the server's time (401 stale_timestamp)."},
      {"schema", {{"type", "string"}, {"pattern", "^[0-9]+$"}}}};
  parameters["XNonce"] = {{"name", "X-Nonce"},
                          {"in", "header"},
                          {"required", true},
                          {"description", "Used once per partner within the window (401 replayed_request)."},
                          {"schema", {{"type", "string"}, {"pattern", "^[A-Za-z0-9_-]{16,64}$"}}}};
  return parameters;
}

json components_headers() {
  json headers = json::object();
  const auto text = [](std::string_view description) {
    return json{{"description", std::string(description)}, {"schema", {{"type", "string"}}}};
  };
  headers["X-Request-Id"] = text("The request's id: the caller's X-Request-Id (1-128 of [A-Za-z0-9._-]) or a new one.");
  headers["X-Signature"] = text(
      "Base64 Ed25519 signature by our signing key over the exact bytes of the response body (every /partner/v1 "
      "response, problems included; absent when the server has no signing key). Verify with the public key "
      "GET /partner/v1/signing-keys/{X-Key-Id} serves.");
  headers["X-Key-Id"] = text("The id of our signing key that made X-Signature.");
  headers["Location"] = text("Where the created resource can be read.");
  headers["Idempotent-Replayed"] = text("true on an answer replayed for a repeated Idempotency-Key or natural id.");
  headers["Retry-After"] = text("Seconds to wait before retrying.");
  headers["WWW-Authenticate"] = text("Bearer");
  return headers;
}

json security_schemes() {
  json schemes = json::object();
  schemes["apiKey"] = {
      {"type", "http"},
      {"scheme", "bearer"},
      {"bearerFormat", "key_<id>.<secret>"},
      {"description",
       "An API key: Authorization: Bearer key_….<43 characters>. A key has one role (mall, ingest, admin, finance); "
       "each operation names the roles it allows in x-roles and its description. Missing, wrong or expired: 401 "
       "unauthenticated; revoked: 401 key_revoked; a role the operation does not allow: 403 forbidden."}};
  schemes["partnerSignature"] = {
      {"type", "apiKey"},
      {"in", "header"},
      {"name", "X-Signature"},
      {"description",
       "A partner's signed request. Headers: X-Partner-Id, X-Key-Id, X-Timestamp (unix seconds), X-Nonce (16-64 of "
       "[A-Za-z0-9_-]) and X-Signature (base64). The signed bytes are\n\n"
       "    METHOD \\n PATH \\n CANONICAL_QUERY \\n X-Timestamp \\n X-Nonce \\n hex(sha256(body))\n\n"
       "joined by single \\n, no trailing newline; CANONICAL_QUERY is the query's k=v pairs sorted by key then value, "
       "RFC 3986 percent-encoded, joined by & (empty if none). An hmac-sha256 key signs with HMAC-SHA256 keyed by the "
       "32 bytes its base64 secret decodes to; an ed25519 key with Ed25519. A timestamp more than 300 s from the "
       "server's time is 401 stale_timestamp; a nonce seen before from the partner 401 replayed_request; otherwise "
       "401 invalid_signature, unknown_key or key_revoked. Every response on /partner/v1 carries our X-Signature "
       "(base64 Ed25519 over the exact response body bytes) and X-Key-Id."}};
  return schemes;
}

json info() {
  return {{"title", "loyalty-ledger API"},
          {"version", "1.1"},
          {"description",
           "The HTTP API of loyalty-ledger (docs/API.md). Every message is JSON (application/json, snake_case field "
           "names) or binary Protobuf (application/x-protobuf, the loyalty.v1 message each schema names in "
           "x-protobuf-message). Amounts are int64 in the asset's smallest unit: JSON numbers in answers, a number "
           "or a decimal string in requests; a fraction anywhere in a body is 400 malformed_request, and so is a "
           "field the message does not have. Times are RFC 3339. Errors are RFC 9457 problems "
           "(application/problem+json) with a stable code. Generated by the service from its routes and its "
           ".proto files."}};
}

}  // namespace

std::string path_shape(std::string_view pattern) {
  std::string shape;
  bool in_parameter = false;
  for (const char c : pattern) {
    if (c == '{') {
      in_parameter = true;
      shape += "{}";
    } else if (c == '}') {
      in_parameter = false;
    } else if (!in_parameter) {
      shape += c;
    }
  }
  return shape;
}

json openapi_document(const Router& router, const std::vector<OperationDoc>& catalog) {
  link_every_proto_file();
  std::map<std::string, json> overrides;
  std::vector<std::string> errors;
  for (const auto& [field, schema_text] : openapi_field_overrides()) {
    json schema = json::parse(schema_text, nullptr, false);
    if (schema.is_discarded()) errors.push_back("the override of " + std::string(field) + " is not JSON");
    overrides[std::string(field)] = schema;
  }
  SchemaSet schemas{overrides};
  DocumentBuilder builder{schemas};
  // Problems are one shared schema, from the message every problem is.
  (void)schemas.reference(v1::Problem::descriptor(), SchemaMode::output);

  std::map<std::string, const OperationDoc*> rows;  // by method and path shape
  for (const auto& row : catalog) {
    const std::string key = route_name(row.method, path_shape(row.path));
    if (!rows.emplace(key, &row).second) errors.push_back("two catalogue rows for " + key);
  }
  json paths = json::object();
  std::set<std::string> documented;
  for (const Route& route : router.routes()) {
    const std::string key = route_name(route.method, path_shape(route.pattern));
    const auto found = rows.find(key);
    if (found == rows.end()) {
      errors.push_back(route_name(route.method, route.pattern) + " has no row in api/openapi_catalog.cpp");
      continue;
    }
    documented.insert(key);
    paths[route.pattern][method_key(route.method)] = builder.operation(route, *found->second);
  }
  for (const auto& [key, row] : rows) {
    if (!documented.contains(key)) errors.push_back(key + " is in the catalogue but not a route");
  }
  errors.insert(errors.end(), builder.errors.begin(), builder.errors.end());
  if (!errors.empty()) {
    std::string text = "the OpenAPI document disagrees with the routes:";
    for (const auto& error : errors) text += "\n  " + error;
    throw std::logic_error(text);
  }

  json components{{"schemas", schemas.components()},
                  {"securitySchemes", security_schemes()},
                  {"parameters", components_parameters()},
                  {"headers", components_headers()}};
  components["schemas"]["Problem"]["description"] =
      "RFC 9457 problem details. `code` is a stable word (docs/API.md lists them all); `errors` lists every field "
      "problem of a validation_failed; `request_id` is the request's X-Request-Id.";
  return {{"openapi", "3.1.0"}, {"info", info()}, {"paths", paths}, {"components", components}};
}

}  // namespace loyalty::api
