// The OpenAPI document without a server: the Protobuf → JSON Schema mapping agrees with what
// the codec writes and reads, the validator the tests use refuses what it must, and the
// generator refuses a catalogue that disagrees with the router.
#include <gtest/gtest.h>

#include <boost/asio/awaitable.hpp>

#include "api/json_codec.hpp"
#include "api/openapi.hpp"
#include "api/openapi_schema.hpp"
#include "api/proto/loyalty/v1/loyalty.pb.h"
#include "api/proto/loyalty/v1/webhooks.pb.h"
#include "tests/support/json_schema.hpp"

namespace loyalty::api {
namespace {

using nlohmann::json;
using testing::SchemaValidator;

// A document holding just the component schemas, for the validator's $refs.
json document_of(const SchemaSet& schemas) {
  return {{"components", {{"schemas", schemas.components()}}}};
}

std::string joined(const std::vector<std::string>& problems) {
  std::string text;
  for (const auto& problem : problems) text += problem + "\n";
  return text;
}

TEST(OpenApiSchema, OutputSchemasRequireWhatTheCodecAlwaysWrites) {
  SchemaSet schemas;
  EXPECT_EQ(schemas.reference(v1::Member::descriptor(), SchemaMode::output),
            json({{"$ref", "#/components/schemas/Member"}}));
  const json& member = schemas.components().at("Member");
  EXPECT_EQ(member.at("required"), json({"member_id", "external_id", "created_at", "balances", "tiers"}));
  EXPECT_EQ(member.at("properties").at("balances").at("additionalProperties"),
            json({{"$ref", "#/components/schemas/AssetBalance"}}));
  EXPECT_EQ(member.at("x-protobuf-message"), "loyalty.v1.Member");
  const json& balance = schemas.components().at("AssetBalance");
  EXPECT_EQ(balance.at("properties").at("available"), json({{"type", "integer"}, {"format", "int64"}}));
  EXPECT_EQ(balance.at("properties").at("expiring").at("items"),
            json({{"$ref", "#/components/schemas/ExpiringAmount"}}));
}

TEST(OpenApiSchema, InputSchemasTakeIntegersAsNumbersOrDecimalStringsAndRequireNothing) {
  SchemaSet schemas;
  EXPECT_EQ(schemas.reference(v1::CreateHoldRequest::descriptor(), SchemaMode::input),
            json({{"$ref", "#/components/schemas/CreateHoldRequest"}}));
  const json& hold = schemas.components().at("CreateHoldRequest");
  EXPECT_FALSE(hold.contains("required"));
  EXPECT_EQ(hold.at("properties").at("amount").at("type"), json({"integer", "string"}));
  // A Struct is the JSON object it stands for.
  (void)schemas.reference(v1::RecordEventRequest::descriptor(), SchemaMode::input);
  EXPECT_EQ(schemas.components().at("RecordEventRequest").at("properties").at("attributes"),
            json({{"type", "object"}}));
  // A message that is also an answer gets a name of its own in input form.
  EXPECT_EQ(SchemaSet::component_name(v1::Hold::descriptor(), SchemaMode::input), "HoldInput");
}

TEST(OpenApiSchema, OverriddenFieldsTakeTheirHandWrittenSchema) {
  SchemaSet schemas{{{"loyalty.v1.FeedEvent.data", json{{"type", "object"}}}}};
  (void)schemas.reference(v1::FeedPage::descriptor(), SchemaMode::output);
  EXPECT_EQ(schemas.components().at("FeedEvent").at("properties").at("data"), json({{"type", "object"}}));
}

TEST(OpenApiSchema, WhatTheCodecWritesValidatesAgainstTheOutputSchema) {
  v1::Member member;
  member.set_member_id("mem_1");
  member.set_external_id("owner-1");
  member.set_phone("+86 21 5555 0100");
  member.set_created_at("2026-11-22T08:00:00Z");
  auto& points = (*member.mutable_balances())["POINTS"];
  points.set_available(INT64_MAX);
  points.add_expiring()->set_amount(-5);
  (*member.mutable_tiers())["spend"].set_level("gold");
  SchemaSet schemas;
  const json schema = schemas.reference(v1::Member::descriptor(), SchemaMode::output);
  const json document = document_of(schemas);
  const SchemaValidator validator{document};
  const json written = json::parse(to_json(member));
  EXPECT_TRUE(validator.validate(written, schema, true).empty()) << joined(validator.validate(written, schema, true));
  // An empty message still writes every field without presence.
  const json empty = json::parse(to_json(v1::Member{}));
  EXPECT_TRUE(validator.validate(empty, schema, true).empty()) << joined(validator.validate(empty, schema, true));
}

TEST(OpenApiSchema, WhatTheCodecReadsValidatesAgainstTheInputSchema) {
  SchemaSet schemas;
  const json schema = schemas.reference(v1::CreateHoldRequest::descriptor(), SchemaMode::input);
  const json document = document_of(schemas);
  const SchemaValidator validator{document};
  const std::string body = R"({"member_id": "mem_1", "amount": "9223372036854775807", "ttl_seconds": 60})";
  v1::CreateHoldRequest parsed;
  ASSERT_EQ(parse_json(body, parsed), std::nullopt);
  EXPECT_TRUE(validator.validate(json::parse(body), schema, true).empty());
}

TEST(SchemaValidator, RefusesWhatTheSchemaDoesNotAllow) {
  SchemaSet schemas;
  const json member = schemas.reference(v1::Member::descriptor(), SchemaMode::output);
  const json hold_input = schemas.reference(v1::CreateHoldRequest::descriptor(), SchemaMode::input);
  const json document = document_of(schemas);
  const SchemaValidator validator{document};
  const json good = json::parse(to_json(v1::Member{}));
  json missing = good;
  missing.erase("balances");
  EXPECT_FALSE(validator.validate(missing, member).empty());
  json wrong_type = good;
  wrong_type["created_at"] = 5;
  EXPECT_FALSE(validator.validate(wrong_type, member).empty());
  json quoted_amount = good;
  quoted_amount["balances"]["POINTS"] = {
      {"available", "5"}, {"pending", 0}, {"held", 0}, {"total", 5}, {"expiring", json::array()}};
  EXPECT_FALSE(validator.validate(quoted_amount, member).empty());  // answers write numbers
  json misspelt = good;
  misspelt["member_idd"] = "x";
  EXPECT_TRUE(validator.validate(misspelt, member).empty());
  EXPECT_FALSE(validator.validate(misspelt, member, true).empty());
  EXPECT_FALSE(validator.validate(json{{"amount", "12x"}}, hold_input).empty());
  EXPECT_FALSE(validator.validate(json{{"amount", "9223372036854775808"}}, hold_input).empty());
  EXPECT_FALSE(validator.validate(json{{"amount", 1.5}}, hold_input).empty());
  EXPECT_FALSE(validator.validate(json("c"), json{{"enum", {"a", "b"}}}).empty());
  EXPECT_FALSE(validator.validate(json(1), json{{"oneOf", {{{"type", "integer"}}, {{"minimum", 0}}}}}).empty());
  EXPECT_TRUE(validator.validate(json(1), json{{"anyOf", {{{"type", "string"}}, {{"minimum", 0}}}}}).empty());
  EXPECT_FALSE(validator.validate(json(1), json{{"$ref", "#/components/schemas/Nothing"}}).empty());
  EXPECT_TRUE(testing::unresolved_references(json{{"a", {{"$ref", "#/b"}}}}).size() == 1);
}

// A router and a catalogue of two routes, for the generator's refusals.
boost::asio::awaitable<Reply> nothing(RequestContext&) {
  co_return Reply{};
}

std::vector<OperationDoc> two_rows() {
  return {{.method = http::verb::get, .path = "/v1/members/{id}", .summary = "a member", .response = "Member"},
          {.method = http::verb::post,
           .path = "/v1/members",
           .summary = "create",
           .request = "CreateMemberRequest",
           .status = 201,
           .response = "Member"}};
}

TEST(OpenApiDocument, PathsMethodsParametersAndRolesComeFromTheRouter) {
  Router router;
  router.add(http::verb::get, "/v1/members/{member_id}", {Role::admin, Role::mall}, nothing);
  router.add(http::verb::post, "/v1/members", {Role::admin}, nothing);
  const json document = openapi_document(router, two_rows());
  const json& get = document.at("paths").at("/v1/members/{member_id}").at("get");
  EXPECT_EQ(get.at("parameters").at(0).at("name"), "member_id");
  EXPECT_EQ(get.at("x-roles"), json({"admin", "mall"}));
  EXPECT_EQ(get.at("responses").at("200").at("content").at("application/json").at("schema"),
            json({{"$ref", "#/components/schemas/Member"}}));
  EXPECT_TRUE(get.at("responses").at("401").at("x-problem-codes").size() >= 1);
  EXPECT_EQ(document.at("paths").at("/v1/members").at("post").at("responses").count("201"), 1u);
}

TEST(OpenApiDocument, ARouteWithoutARowIsRefused) {
  Router router;
  router.add(http::verb::get, "/v1/members/{member_id}", {Role::admin}, nothing);
  router.add(http::verb::post, "/v1/members", {Role::admin}, nothing);
  router.add(http::verb::get, "/v1/holds/{hold_id}", {Role::admin}, nothing);
  EXPECT_THROW(openapi_document(router, two_rows()), std::logic_error);
}

TEST(OpenApiDocument, ARowWithoutARouteIsRefused) {
  Router router;
  router.add(http::verb::get, "/v1/members/{member_id}", {Role::admin}, nothing);
  EXPECT_THROW(openapi_document(router, two_rows()), std::logic_error);
}

TEST(OpenApiDocument, AnUnknownMessageOfAnExistingRouteIsRefused) {
  Router router;
  router.add(http::verb::get, "/v1/members/{member_id}", {Role::admin}, nothing);
  router.add(http::verb::post, "/v1/members", {Role::admin}, nothing);
  auto rows = two_rows();
  rows[1].response = "MessageOfALaterBuild";
  EXPECT_THROW(openapi_document(router, rows), std::logic_error);
  rows[1].response = "Member";
  rows[1].response_example = "{not json";
  EXPECT_THROW(openapi_document(router, rows), std::logic_error);
}

}  // namespace
}  // namespace loyalty::api
