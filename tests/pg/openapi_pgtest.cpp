// GET /openapi.json against the running service: the document names exactly the router's
// routes (paths, methods, path parameters, roles), every operation has a response schema,
// every $ref resolves, every example is valid against its schema, and real answers of the
// service are valid against the schemas the document gives for them.
#include <algorithm>
#include <cctype>
#include <set>

#include "tests/support/json_schema.hpp"
#include "tests/support/loyaltyd_process.hpp"
#include "tests/support/service_fixture.hpp"

namespace loyalty::testing {
namespace {

using nlohmann::json;

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

std::string joined(const std::vector<std::string>& problems) {
  std::string text;
  for (const auto& problem : problems) text += "  " + problem + "\n";
  return text;
}

class OpenApi : public ServiceTest {
 protected:
  // Fetched once, without credentials, as any client would.
  static const json& document() {
    static const json fetched = [] {
      HttpClient client{service().port()};
      const HttpResult result = client.request("GET", "/openapi.json");
      EXPECT_EQ(result.status, 200) << result.body;
      EXPECT_EQ(result.header("content-type"), "application/json");
      return json::parse(result.body, nullptr, false);
    }();
    return fetched;
  }

  static const std::vector<api::Route>& routes() { return service().service().router().routes(); }

  // The schema the document gives for an answer of `path` and `method` with `status`.
  static json response_schema(const std::string& path, const std::string& method, int status,
                              const std::string& media_type = "application/json") {
    const json& response = document().at("paths").at(path).at(method).at("responses").at(std::to_string(status));
    return response.at("content").at(media_type).at("schema");
  }

  // Checks a real answer against the document, strictly: a field the schema lacks is a problem.
  static void expect_documented(const HttpResult& result, const std::string& path, const std::string& method) {
    const bool is_problem = result.status >= 400;
    const json schema =
        response_schema(path, method, result.status, is_problem ? "application/problem+json" : "application/json");
    const SchemaValidator validator{document()};
    const auto problems = validator.validate(result.json(), schema, true);
    EXPECT_TRUE(problems.empty()) << method << " " << path << " " << result.status << " answered " << result.body
                                  << "\nwhich the document does not allow:\n"
                                  << joined(problems);
  }
};

TEST_F(OpenApi, TheDocumentIsServedWithoutAKeyAndIsOpenApi31InShape) {
  const json& doc = document();
  ASSERT_TRUE(doc.is_object());
  EXPECT_TRUE(doc.at("openapi").get<std::string>().starts_with("3.1."));
  EXPECT_FALSE(doc.at("info").at("title").get<std::string>().empty());
  EXPECT_FALSE(doc.at("info").at("version").get<std::string>().empty());
  EXPECT_TRUE(doc.at("paths").is_object());
  EXPECT_TRUE(doc.at("components").at("schemas").contains("Problem"));
  EXPECT_EQ(doc.at("components").at("securitySchemes").at("apiKey").at("scheme"), "bearer");
  EXPECT_EQ(doc.at("components").at("securitySchemes").at("partnerSignature").at("type"), "apiKey");
  for (const auto& [path, item] : doc.at("paths").items()) {
    EXPECT_TRUE(path.starts_with("/")) << path;
    for (const auto& [method, operation] : item.items()) {
      EXPECT_TRUE(method == "get" || method == "post" || method == "put" || method == "delete")
          << path << " " << method;
      EXPECT_TRUE(operation.contains("responses")) << method << " " << path;
      EXPECT_TRUE(operation.contains("operationId")) << method << " " << path;
    }
  }
  // The same bytes every time: built once.
  HttpClient client{service().port()};
  EXPECT_EQ(json::parse(client.request("GET", "/openapi.json").body), doc);
}

TEST_F(OpenApi, LoyaltydServesTheSameDocument) {
  LoyaltydProcess daemon{TestDatabase::instance().url(), "openapi", {}};
  const unsigned short port = daemon.wait_until_serving();
  ASSERT_NE(port, 0) << daemon.log();
  HttpClient client{port};
  const HttpResult served = client.request("GET", "/openapi.json");
  ASSERT_EQ(served.status, 200) << served.body;
  EXPECT_EQ(served.json(), document());
}

TEST_F(OpenApi, EveryRouteOfTheRouterIsDocumentedWithItsParametersAndRoles) {
  const json& paths = document().at("paths");
  for (const api::Route& route : routes()) {
    const std::string method = lower(std::string(api::http::to_string(route.method)));
    const std::string where = method + " " + route.pattern;
    ASSERT_TRUE(paths.contains(route.pattern) && paths.at(route.pattern).contains(method))
        << where << " is not documented";
    const json& operation = paths.at(route.pattern).at(method);
    std::set<std::string> documented_parameters, route_parameters;
    for (const auto& parameter : operation.at("parameters")) {
      if (parameter.contains("in") && parameter.at("in") == "path") documented_parameters.insert(parameter.at("name"));
    }
    for (const auto& segment : route.segments) {
      if (segment.size() > 2 && segment.front() == '{') route_parameters.insert(segment.substr(1, segment.size() - 2));
    }
    EXPECT_EQ(documented_parameters, route_parameters) << where;
    switch (route.access) {
      case api::Access::open: EXPECT_EQ(operation.at("security"), json::array()) << where; break;
      case api::Access::api_key: {
        json roles = json::array();
        for (const api::Role role : route.roles) roles.push_back(api::role_name(role));
        EXPECT_EQ(operation.at("x-roles"), roles) << where;
        EXPECT_EQ(operation.at("security"), json::parse(R"([{"apiKey": []}])")) << where;
        break;
      }
      case api::Access::partner:
        EXPECT_EQ(operation.at("security"), json::parse(R"([{"partnerSignature": []}])")) << where;
        break;
    }
  }
}

TEST_F(OpenApi, TheDocumentNamesNoPathAndMethodTheRouterLacks) {
  std::set<std::string> served;
  for (const api::Route& route : routes())
    served.insert(lower(std::string(api::http::to_string(route.method))) + " " + route.pattern);
  std::size_t operations = 0;
  for (const auto& [path, item] : document().at("paths").items()) {
    for (const auto& [method, operation] : item.items()) {
      ++operations;
      EXPECT_TRUE(served.contains(method + " " + path)) << method << " " << path << " is documented but not served";
    }
  }
  EXPECT_EQ(operations, routes().size());
}

TEST_F(OpenApi, EveryOperationHasAResponseSchemaAndEveryProblemIsAProblem) {
  for (const auto& [path, item] : document().at("paths").items()) {
    for (const auto& [method, operation] : item.items()) {
      const std::string where = method + " " + path;
      bool success_with_schema = false;
      for (const auto& [status, response] : operation.at("responses").items()) {
        EXPECT_FALSE(response.value("description", "").empty()) << where << " " << status;
        const int code = std::stoi(status);
        if (code == 304) continue;
        ASSERT_TRUE(response.contains("content")) << where << " " << status << " has no content";
        for (const auto& [media_type, media] : response.at("content").items()) {
          EXPECT_TRUE(media.contains("schema")) << where << " " << status << " " << media_type;
        }
        if (code < 300) {
          success_with_schema = success_with_schema || !response.at("content").empty();
        } else {  // every failure can be a problem (/readyz's 503 may be its Health too)
          EXPECT_EQ(response.at("content").at("application/problem+json").at("schema"),
                    json::parse(R"({"$ref": "#/components/schemas/Problem"})"))
              << where << " " << status;
          EXPECT_FALSE(response.at("x-problem-codes").empty()) << where << " " << status;
        }
      }
      EXPECT_TRUE(success_with_schema) << where << " has no success answer with a schema";
    }
  }
}

TEST_F(OpenApi, EveryReferenceResolves) {
  const auto unresolved = unresolved_references(document());
  EXPECT_TRUE(unresolved.empty()) << joined(unresolved);
}

TEST_F(OpenApi, EveryExampleIsValidAgainstItsSchema) {
  const SchemaValidator validator{document()};
  int examples = 0;
  const auto check = [&](const json& media, const std::string& where) {
    if (!media.contains("example")) return;
    ++examples;
    const auto problems = validator.validate(media.at("example"), media.at("schema"), true);
    EXPECT_TRUE(problems.empty()) << "the example of " << where << " is not valid:\n" << joined(problems);
  };
  for (const auto& [path, item] : document().at("paths").items()) {
    for (const auto& [method, operation] : item.items()) {
      if (operation.contains("requestBody")) {
        for (const auto& [media_type, media] : operation.at("requestBody").at("content").items()) {
          check(media, method + " " + path + " request " + media_type);
        }
      }
      for (const auto& [status, response] : operation.at("responses").items()) {
        if (!response.contains("content")) continue;
        for (const auto& [media_type, media] : response.at("content").items()) {
          check(media, method + " " + path + " " + status + " " + media_type);
        }
      }
    }
  }
  EXPECT_GE(examples, 20);
}

TEST_F(OpenApi, PartnerOperationsAreSignedBothWaysAndKeysAreDescribed) {
  for (const auto& [path, item] : document().at("paths").items()) {
    for (const auto& [method, operation] : item.items()) {
      const bool partner_side = path.starts_with("/partner/");
      for (const auto& [status, response] : operation.at("responses").items()) {
        EXPECT_EQ(response.at("headers").contains("X-Signature"), partner_side)
            << method << " " << path << " " << status;
      }
      if (operation.contains("requestBody") && method == "post" && path == "/v1/adjustments") {
        EXPECT_EQ(operation.at("parameters").back(),
                  json::parse(R"({"$ref": "#/components/parameters/IdempotencyKeyRequired"})"));
      }
    }
  }
  const std::string recipe = document().at("components").at("securitySchemes").at("partnerSignature").at("description");
  for (const char* header : {"X-Partner-Id", "X-Key-Id", "X-Timestamp", "X-Nonce", "X-Signature", "CANONICAL_QUERY"}) {
    EXPECT_NE(recipe.find(header), std::string::npos) << header;
  }
}

TEST_F(OpenApi, RealAnswersAreValidAgainstTheDocument) {
  const auto created = post("/v1/members", {{"external_id", unique("ext-")}, {"display_name", "Li Wei"}});
  ASSERT_EQ(created.status, 201) << created.body;
  expect_documented(created, "/v1/members", "post");
  const std::string member_id = created.json().at("member_id");
  const auto adjusted = post(
      "/v1/adjustments",
      {{"member_id", member_id}, {"asset", "POINTS"}, {"amount", "800"}, {"reason_code", "goodwill"}}, unique("adj-"));
  ASSERT_EQ(adjusted.status, 201) << adjusted.body;
  expect_documented(adjusted, "/v1/adjustments", "post");
  const auto held =
      post("/v1/holds", {{"member_id", member_id}, {"amount", 300}, {"reference", "cart-1"}}, unique("hold-"));
  ASSERT_EQ(held.status, 201) << held.body;
  expect_documented(held, "/v1/holds", "post");
  expect_documented(get("/v1/members/" + member_id), "/v1/members/{member_id}", "get");
  expect_documented(get("/v1/members/" + member_id + "/balances"), "/v1/members/{member_id}/balances", "get");
  expect_documented(get("/v1/members/" + member_id + "/entries?limit=1"), "/v1/members/{member_id}/entries", "get");
  expect_documented(get("/v1/keys?limit=2"), "/v1/keys", "get");
  expect_documented(get("/v1/feed?limit=20"), "/v1/feed", "get");
  expect_documented(get("/v1/audit/verify", api::Role::finance), "/v1/audit/verify", "get");
  expect_documented(get("/v1/reports/trial-balance", api::Role::finance), "/v1/reports/trial-balance", "get");
  // Problems, validation_failed's field list included.
  expect_documented(get("/v1/members/mem_nobody"), "/v1/members/{member_id}", "get");
  const auto refused =
      post("/v1/adjustments", {{"member_id", member_id}, {"asset", "GOLD"}, {"amount", 0}}, unique("adj-"));
  ASSERT_EQ(refused.status, 422) << refused.body;
  expect_documented(refused, "/v1/adjustments", "post");
  HttpClient client{service().port()};
  expect_documented(client.request("GET", "/healthz"), "/healthz", "get");
  expect_documented(client.request("GET", "/readyz"), "/readyz", "get");
  expect_documented(client.request("GET", "/console/no-such-file.js"), "/console/{path...}", "get");
  // This service has no signing key: the PEM is a problem; the list (asked for in JSON) is empty.
  expect_documented(client.request("GET", "/partner/v1/signing-keys"), "/partner/v1/signing-keys", "get");
  expect_documented(client.request("GET", "/partner/v1/signing-keys", "", {{"Accept", "application/json"}}),
                    "/partner/v1/signing-keys", "get");
}

}  // namespace
}  // namespace loyalty::testing
