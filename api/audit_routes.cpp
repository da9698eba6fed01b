// GET /v1/audit/events (the audit trail, oldest first) and GET /v1/audit/verify (the
// tamper-evidence chain recomputed from the stored rows; audit/seal.hpp).
#include <boost/asio/awaitable.hpp>

#include "api/proto/loyalty/v1/finance.pb.h"
#include "api/routes.hpp"
#include "api/service.hpp"
#include "audit/privacy.hpp"
#include "audit/seal.hpp"
#include "platform/database.hpp"

namespace loyalty::api {
namespace asio = boost::asio;
namespace {

const db::Statement select_audit_page{
    "api.audit_page",
    "SELECT audit_id, occurred_at, actor_kind, actor_id, actor_name, action, subject, request_id,"
    " source_address, result, details::text FROM audit_events"
    " WHERE ($1::timestamptz IS NULL OR occurred_at >= $1::timestamptz)"
    "   AND ($2::timestamptz IS NULL OR occurred_at < $2::timestamptz)"
    "   AND ($3::text IS NULL OR actor_id = $3 OR actor_name = $3)"
    "   AND ($4::text IS NULL OR action = $4)"
    "   AND audit_id > $5"
    " ORDER BY audit_id LIMIT $6"};

struct AuditQuery {
  std::optional<std::string> from, to, actor, action;
  std::int64_t after = 0;
  int limit = 0;
};

// Reads the query string; the problem to answer when something in it is wrong.
std::optional<Reply> parse_audit_query(const RequestContext& context, AuditQuery& query) {
  if (auto bad = parse_limit(context, query.limit)) return bad;
  Validation validation;
  for (const auto& [name, target] : {std::pair{"from", &query.from}, std::pair{"to", &query.to}}) {
    const auto text = context.query_value(name);
    if (!text || text->empty()) continue;
    const auto parsed = parse_rfc3339(*text);
    if (!parsed) {
      validation.fail(name, "must be an RFC 3339 time");
    } else {
      *target = db::sql_time(*parsed);
    }
  }
  for (const auto& [name, target] : {std::pair{"actor", &query.actor}, std::pair{"action", &query.action}}) {
    const auto text = context.query_value(name);
    if (text && !text->empty()) *target = *text;
  }
  if (const auto cursor = context.query_value("cursor"); cursor && !cursor->empty()) {
    const auto position = decode_cursor(*cursor);
    if (!position) {
      validation.fail("cursor", "not a cursor this API returned");
    } else {
      query.after = *position;
    }
  }
  if (!validation.ok()) return validation.reply();
  return std::nullopt;
}

void fill_event(v1::AuditEvent& item, const pqxx::row& row) {
  item.set_audit_id(row[0].as<std::int64_t>());
  item.set_occurred_at(format_rfc3339(db::time_of(row[1])));
  item.set_actor_kind(row[2].c_str());
  if (!row[3].is_null()) item.set_actor_id(row[3].c_str());
  if (!row[4].is_null()) item.set_actor_name(audit::mask_phone_numbers(row[4].c_str()));
  item.set_action(row[5].c_str());
  if (!row[6].is_null()) item.set_subject(audit::mask_phone_numbers(row[6].c_str()));
  if (!row[7].is_null()) item.set_request_id(row[7].c_str());
  if (!row[8].is_null()) item.set_source_address(row[8].c_str());
  item.set_result(row[9].c_str());
  item.set_details(audit::mask_phone_numbers(row[10].c_str()));
}

asio::awaitable<Reply> list_audit_events(Service& service, RequestContext& context) {
  AuditQuery query;
  if (auto bad = parse_audit_query(context, query)) co_return *bad;
  co_return co_await service.read(0, [&](pqxx::transaction_base& txn) {
    const auto rows = db::exec(txn, select_audit_page, db::nullable(query.from), db::nullable(query.to),
                               db::nullable(query.actor), db::nullable(query.action), query.after, query.limit + 1);
    v1::AuditEventPage page;
    const auto shown = std::min<std::size_t>(rows.size(), static_cast<std::size_t>(query.limit));
    for (std::size_t i = 0; i < shown; ++i)
      fill_event(*page.add_items(), rows[static_cast<pqxx::result::size_type>(i)]);
    if (rows.size() > shown) page.set_next_cursor(encode_cursor(page.items(page.items_size() - 1).audit_id()));
    return Reply::of(200, std::move(page));
  });
}

asio::awaitable<Reply> verify_audit(Service& service, RequestContext&) {
  co_return co_await service.read(0, [](pqxx::transaction_base& txn) {
    const audit::VerifyReport report = audit::verify_seals(txn);
    v1::AuditVerification message;
    message.set_ok(report.ok);
    message.set_checked_through(report.checked_through);
    message.set_head(report.head_hex);
    message.set_records_checked(report.records_checked);
    if (report.first_mismatch) {
      auto* mismatch = message.mutable_first_mismatch();
      mismatch->set_seq(report.first_mismatch->seq);
      mismatch->set_record_kind(report.first_mismatch->record_kind);
      mismatch->set_record_id(report.first_mismatch->record_id);
      mismatch->set_problem(report.first_mismatch->problem);
    }
    return Reply::of(200, std::move(message));
  });
}

}  // namespace

void add_audit_routes(Router& router, Service& service) {
  using http::verb;
  router.add(verb::get, "/v1/audit/events", {Role::finance, Role::admin},
             [&service](RequestContext& c) { return list_audit_events(service, c); });
  router.add(verb::get, "/v1/audit/verify", {Role::finance, Role::admin},
             [&service](RequestContext& c) { return verify_audit(service, c); });
}

}  // namespace loyalty::api
