// GET /openapi.json: the OpenAPI 3.1 document of every route, generated once at start-up from
// the router's routes (paths, methods, path parameters, roles, who may call), the messages'
// Protobuf descriptors (schemas, api/openapi_schema.hpp) and the catalogue
// (api/openapi_catalog.hpp: summaries, statuses, query parameters, problems, examples).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/openapi_catalog.hpp"
#include "api/router.hpp"

namespace loyalty::api {

// The document. Throws std::logic_error listing every disagreement between the router and the
// catalogue (a route without a row, a row without a route, an unknown message, an example or
// a schema that is not JSON): the service must not start with a document that is not true.
nlohmann::json openapi_document(const Router& router, const std::vector<OperationDoc>& catalog);

// "/v1/members/{member_id}" → "/v1/members/{}": how rows and routes are matched.
std::string path_shape(std::string_view pattern);

}  // namespace loyalty::api
