// GET /v1/program, PUT /v1/program, GET /v1/program/versions, GET /v1/program/versions/{version}
#include <google/protobuf/util/json_util.h>

#include <boost/asio/awaitable.hpp>

#include <charconv>
#include <climits>

#include "api/limits.hpp"
#include "api/routes.hpp"
#include "api/service.hpp"
#include "earning/program_apply.hpp"
#include "platform/digest.hpp"
#include "program/store.hpp"

namespace loyalty::api {
namespace asio = boost::asio;
namespace {

static_assert(program::document_depth_max == limits::json_depth_max,
              "the program document is held to the same nesting limit as every other body");

v1::ProgramVersion version_message(int version, const std::string& sha256, bool changed, Timestamp applied_at,
                                   const nlohmann::json& document) {
  v1::ProgramVersion message;
  message.set_version(version);
  message.set_sha256(sha256);
  message.set_changed(changed);
  message.set_applied_at(format_rfc3339(applied_at));
  (void)google::protobuf::util::JsonStringToMessage(document.dump(), message.mutable_document());
  return message;
}

asio::awaitable<Reply> get_program(Service& service, RequestContext&) {
  co_return co_await service.read(0, [&](pqxx::transaction_base& txn) {
    const auto current = program::current_program(txn);
    if (!current) return problem(404, "not_found", "no program has been applied");
    return Reply::of(200,
                     version_message(current->version, current->sha256, false, current->applied_at, current->document));
  });
}

asio::awaitable<Reply> list_versions(Service& service, RequestContext& context) {
  int limit = 0;
  std::optional<std::int64_t> before;
  if (auto bad = parse_page(context, limit, before)) co_return *bad;
  if (before && *before > INT32_MAX)
    co_return problem(422, "validation_failed", "cursor: not a cursor this API returned");
  co_return co_await service.read(0, [&](pqxx::transaction_base& txn) {
    // One version more than asked tells whether there is a next page.
    auto versions =
        program::list_versions(txn, before ? std::optional(static_cast<int>(*before)) : std::nullopt, limit + 1);
    v1::ProgramVersionList message;
    const bool more = static_cast<int>(versions.size()) > limit;
    if (more) versions.pop_back();
    for (const auto& version : versions) {
      auto* item = message.add_items();
      item->set_version(version.version);
      item->set_sha256(version.sha256);
      item->set_applied_at(format_rfc3339(version.applied_at));
      item->set_applied_by(version.applied_by);
    }
    if (more) message.set_next_cursor(encode_cursor(versions.back().version));
    return Reply::of(200, std::move(message));
  });
}

asio::awaitable<Reply> get_version(Service& service, RequestContext& context) {
  const std::string& text = context.param("version");
  int number = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (error != std::errc{} || end != text.data() + text.size() || number < 1) {
    co_return problem(404, "not_found", "no program version has this number");
  }
  co_return co_await service.read(0, [&](pqxx::transaction_base& txn) {
    const auto version = program::find_version(txn, number);
    if (!version) return problem(404, "not_found", "no program version has this number");
    v1::ProgramVersion message =
        version_message(version->version, version->sha256, false, version->applied_at, version->document);
    message.set_applied_by(version->applied_by);
    return Reply::of(200, std::move(message));
  });
}

asio::awaitable<Reply> put_program(Service& service, RequestContext& context) {
  auto parsed = program::json_text_to_document(context.http.body(), limits::json_depth_max);
  if (const auto* problems = std::get_if<program::DocumentProblems>(&parsed)) {
    co_return problem(400, "malformed_request",
                      "the body must be the program document as a JSON object: " + problems->problems.front());
  }
  const nlohmann::json document = std::get<nlohmann::json>(std::move(parsed));
  const std::string actor = context.caller ? "key:" + context.caller->key_id : "unknown";
  Reply reply = co_await service.write(context, 0, document.dump(), false, [&](pqxx::transaction_base& txn) {
    auto applied = earning::apply_program(txn, document, actor);
    if (const auto* problems = std::get_if<program::DocumentProblems>(&applied)) {
      Validation validation;
      for (const auto& text : problems->problems) {
        const auto colon = text.find(": ");
        validation.fail(colon == std::string::npos ? "" : text.substr(0, colon),
                        colon == std::string::npos ? text : text.substr(colon + 2));
      }
      return validation.reply();
    }
    const auto& done = std::get<program::AppliedProgram>(applied);
    return Reply::of(done.changed ? 201 : 200,
                     version_message(done.version, done.sha256, done.changed, context.received_at, document));
  });
  if (reply.succeeded()) service.forget_program();
  co_return reply;
}

}  // namespace

void add_program_routes(Router& router, Service& service) {
  router.add(http::verb::get, "/v1/program", {Role::admin, Role::finance},
             [&service](RequestContext& c) { return get_program(service, c); });
  router.add(http::verb::get, "/v1/program/versions", {Role::admin},
             [&service](RequestContext& c) { return list_versions(service, c); });
  router.add(http::verb::get, "/v1/program/versions/{version}", {Role::admin},
             [&service](RequestContext& c) { return get_version(service, c); });
  router.add(http::verb::put, "/v1/program", {Role::admin},
             [&service](RequestContext& c) { return put_program(service, c); });
}

}  // namespace loyalty::api
