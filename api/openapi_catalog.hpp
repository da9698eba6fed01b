// What the OpenAPI document says about each route that the code cannot: one row per route.
// Paths, methods, path parameters and roles come from the router (api/router.hpp); request
// and response schemas from the messages' Protobuf descriptors (api/openapi_schema.hpp);
// api/openapi.cpp puts them together and refuses (at start-up) a route without a row, a row
// without a route, and a message name the descriptors do not know.
#pragma once

#include <string_view>
#include <vector>

#include "api/context.hpp"

namespace loyalty::api {

enum class IdempotencyKey {
  ignored,   // the route does not look at the header (reads; creations that show a secret once)
  accepted,  // a retry with the same key answers the first answer (docs/API.md, "Idempotency")
  required,  // the same, and a request without the header is 400 validation_failed
};

struct QueryParameter {
  std::string_view name;
  std::string_view description;
  bool required = false;
  std::string_view schema_json = "";  // "" is {"type": "string"}
};

// A body that is not a message: its media type and its JSON Schema as text.
struct RawBody {
  std::string_view media_type;
  std::string_view schema_json;
};

// Another answer of the route's: a success with another status, or 304.
struct OtherResponse {
  int status;
  std::string_view description;
  bool same_body = true;  // the success's body; false: no body
};

struct OperationDoc {
  http::verb method;
  // The path as the router has it; parameter names are the router's (a row matches a route
  // whatever its parameters are called).
  std::string_view path;
  std::string_view summary;
  std::string_view description = "";
  // Message names in loyalty.v1 ("CreateMemberRequest"); "" for none.
  std::string_view request = "";
  RawBody raw_request = {};  // a body that is not a message (the program document)
  int status = 200;
  std::string_view response = "";
  std::vector<RawBody> raw_responses = {};  // bodies that are not messages
  std::vector<QueryParameter> query = {};
  bool paged = false;  // takes limit and cursor
  // The problems the route itself answers, "STATUS code" separated by commas ("404
  // member_not_found, 422 validation_failed"); those every route of its kind can answer
  // (authentication, rate limits, bodies, the database) are added by api/openapi.cpp.
  std::string_view problems = "";
  IdempotencyKey idempotency = IdempotencyKey::ignored;
  bool location = false;  // a 201 (or 202) says where the new resource is
  std::vector<OtherResponse> other_responses = {};
  // JSON text; checked against the schemas by tests/pg/openapi_pgtest.cpp.
  std::string_view request_example = "";
  std::string_view response_example = "";
};

const std::vector<OperationDoc>& openapi_catalog();

// Schemas of fields a route writes by hand, by the field's full name (see openapi_schema.hpp).
std::vector<std::pair<std::string_view, std::string_view>> openapi_field_overrides();

}  // namespace loyalty::api
