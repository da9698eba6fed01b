// The admin side of partners: POST /v1/partners, GET /v1/partners (the list) and
// GET /v1/partners/{id}, keys and their revocation, the rights catalog, member links
// (POST and GET /v1/members/{id}/partner-links), outbound exchanges (POST /v1/exchanges, role
// mall), and what finance reads: a partner's exchanges and settlement statements.
#include <google/protobuf/util/json_util.h>
#include <boost/asio/awaitable.hpp>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <regex>
#include <stdexcept>

#include "api/partner_auth.hpp"
#include "api/proto/loyalty/v1/partners.pb.h"
#include "api/routes.hpp"
#include "api/service.hpp"
#include "audit/audit_log.hpp"
#include "partners/exchanges.hpp"
#include "partners/keys.hpp"
#include "partners/links.hpp"
#include "partners/registry.hpp"
#include "partners/settlement.hpp"
#include "partners/statements.hpp"
#include "platform/executor.hpp"

namespace loyalty::api {
namespace asio = boost::asio;
namespace {

constexpr std::size_t name_chars_max = 200;

const std::regex identifier{"[a-z0-9][a-z0-9_-]{0,63}"};
const std::regex asset_code{"[A-Z][A-Z0-9_]{0,31}"};

const program::Program* program_of(const std::shared_ptr<const program::ProgramVersion>& version) {
  return version ? &version->program : nullptr;
}

v1::PartnerRightDefinition right_message(const program::PartnerRight& right) {
  v1::PartnerRightDefinition message;
  message.set_code(right.code);
  message.set_title(right.title);
  if (right.min_spend_level) message.mutable_min_levels()->set_spend(*right.min_spend_level);
  if (right.min_engagement_level) message.mutable_min_levels()->set_engagement(*right.min_engagement_level);
  message.set_quota_per_period(right.quota_per_period);
  message.set_period(right.period);
  return message;
}

v1::PartnerResource partner_message(const partners::RegisteredPartner& partner) {
  const program::Partner& terms = partner.terms;
  v1::PartnerResource message;
  message.set_partner_id(terms.partner_id);
  message.set_name(terms.name);
  message.set_asset(terms.asset);
  message.mutable_rates()->set_inbound_points_per_unit(terms.inbound_points_per_unit);
  message.mutable_rates()->set_outbound_units_per_point_milli(terms.outbound_units_per_point_milli);
  message.mutable_rates()->set_cents_per_point(terms.cents_per_point);
  message.mutable_limits()->set_per_member_daily_points(terms.per_member_daily_points);
  message.mutable_limits()->set_per_day_points(terms.per_day_points);
  for (const auto& right : terms.rights) *message.add_rights() = right_message(right);
  message.set_source(partner.from_program ? "program" : "api");
  return message;
}

v1::PartnerKey key_message(const partners::PartnerKey& key) {
  v1::PartnerKey message;
  message.set_key_id(key.key_id);
  message.set_partner_id(key.partner_id);
  message.set_algorithm(key.algorithm);
  if (key.secret_base64) message.set_secret(*key.secret_base64);
  if (key.public_key_pem) message.set_public_key_pem(*key.public_key_pem);
  message.set_created_at(format_rfc3339(key.created_at));
  if (key.revoked_at) message.set_revoked_at(format_rfc3339(*key.revoked_at));
  return message;
}

// A right of a request, validated field by field into `validation`.
program::PartnerRight right_of(const v1::PartnerRightDefinition& message, const std::string& at,
                               Validation& validation) {
  program::PartnerRight right;
  right.code = message.code();
  right.title = message.title();
  if (message.min_levels().has_spend()) right.min_spend_level = message.min_levels().spend();
  if (message.min_levels().has_engagement()) right.min_engagement_level = message.min_levels().engagement();
  right.quota_per_period = message.quota_per_period();
  right.period = message.period();
  if (!std::regex_match(right.code, identifier)) validation.fail(at + "code", "must match [a-z0-9][a-z0-9_-]{0,63}");
  if (right.title.empty() || right.title.size() > name_chars_max) validation.fail(at + "title", "1 to 200 characters");
  if (!right.min_spend_level && !right.min_engagement_level) {
    validation.fail(at + "min_levels", "names spend, engagement or both");
  }
  if (right.quota_per_period < 1 || right.quota_per_period > program::partner_rate_max) {
    validation.fail(at + "quota_per_period", "from 1 to " + std::to_string(program::partner_rate_max));
  }
  if (right.period != "day" && right.period != "month" && right.period != "year") {
    validation.fail(at + "period", "one of day, month, year");
  }
  return right;
}

program::Partner partner_of(const v1::CreatePartnerRequest& request, Validation& validation) {
  program::Partner partner;
  partner.partner_id = request.partner_id();
  partner.name = request.name();
  partner.asset = request.asset();
  partner.inbound_points_per_unit = request.rates().inbound_points_per_unit();
  partner.outbound_units_per_point_milli = request.rates().outbound_units_per_point_milli();
  partner.cents_per_point = request.rates().cents_per_point();
  partner.per_member_daily_points = request.limits().per_member_daily_points();
  partner.per_day_points = request.limits().per_day_points();
  if (!std::regex_match(partner.partner_id, identifier)) {
    validation.fail("partner_id", "must match [a-z0-9][a-z0-9_-]{0,63}");
  }
  if (partner.name.empty() || partner.name.size() > name_chars_max) validation.fail("name", "1 to 200 characters");
  if (!std::regex_match(partner.asset, asset_code) || partner.asset == "POINTS" || partner.asset == "GROWTH") {
    validation.fail("asset", "the partner's own asset, [A-Z][A-Z0-9_]{0,31}");
  }
  const auto in_range = [&](const char* field, std::int64_t value, std::int64_t low, std::int64_t high) {
    if (value < low || value > high) {
      validation.fail(field, "from " + std::to_string(low) + " to " + std::to_string(high));
    }
  };
  in_range("rates.inbound_points_per_unit", partner.inbound_points_per_unit, 1, program::partner_rate_max);
  in_range("rates.outbound_units_per_point_milli", partner.outbound_units_per_point_milli, 1,
           program::partner_rate_max);
  in_range("rates.cents_per_point", partner.cents_per_point, 0, program::partner_rate_max);
  // At most what a statement can state exactly for these rates (program/program.hpp).
  const std::int64_t daily_max =
      program::partner_daily_points_max(partner.cents_per_point, partner.outbound_units_per_point_milli);
  in_range("limits.per_member_daily_points", partner.per_member_daily_points, 1, daily_max);
  in_range("limits.per_day_points", partner.per_day_points, 1, daily_max);
  for (int i = 0; i < request.rights_size(); ++i) {
    partner.rights.push_back(right_of(request.rights(i), "rights[" + std::to_string(i) + "].", validation));
  }
  return partner;
}

asio::awaitable<Reply> create_partner(Service& service, RequestContext& context) {
  v1::CreatePartnerRequest request;
  if (auto bad = parse_body(context, request)) co_return *bad;
  Validation validation;
  const program::Partner partner = partner_of(request, validation);
  if (!validation.ok()) co_return validation.reply();
  co_return co_await service.write(
      context, db::routing_key_of("partner:" + partner.partner_id), request, false, [&](pqxx::transaction_base& txn) {
        const auto version = service.program(txn);
        const auto registered = partners::register_partner(txn, program_of(version), partner);
        if (!registered) return partner_refusal_reply(registered.refusal());
        const auto stored = partners::find_partner(txn, program_of(version), partner.partner_id);
        Reply reply = Reply::of(registered.value() == partners::Replay::fresh ? 201 : 200, partner_message(*stored));
        reply.keep_writes = registered.value() == partners::Replay::fresh;
        return reply;
      });
}

asio::awaitable<Reply> get_partner(Service& service, RequestContext& context) {
  const std::string partner_id = context.param("partner_id");
  co_return co_await service.read(db::routing_key_of("partner:" + partner_id), [&](pqxx::transaction_base& txn) {
    const auto partner = partners::find_partner(txn, program_of(service.program(txn)), partner_id);
    if (!partner) return partner_refusal_reply(partners::Refusal::partner_not_found);
    return Reply::of(200, partner_message(*partner));
  });
}

// Not through Service::write: an Idempotency-Key replay would keep (and show again) the
// secret. A retried creation makes a second key, which is harmless (revoke the spare).
asio::awaitable<Reply> create_key(Service& service, RequestContext& context) {
  v1::CreatePartnerKeyRequest request;
  if (auto bad = parse_body(context, request)) co_return *bad;
  if (request.algorithm() != partners::algorithm_hmac && request.algorithm() != partners::algorithm_ed25519) {
    Validation validation;
    validation.fail("algorithm", "hmac-sha256 or ed25519");
    co_return validation.reply();
  }
  const std::string partner_id = context.param("partner_id");
  const std::optional<std::string> pem =
      request.has_public_key_pem() ? std::optional(request.public_key_pem()) : std::nullopt;
  co_return co_await service.transact(db::routing_key_of("partner:" + partner_id), [&](pqxx::transaction_base& txn) {
    if (!partners::find_partner(txn, program_of(service.program(txn)), partner_id)) {
      return partner_refusal_reply(partners::Refusal::partner_not_found);
    }
    const auto key = partners::create_key(txn, partner_id, request.algorithm(), pem);
    if (!key) return partner_refusal_reply(key.refusal());
    audit::AuditRecord record;
    record.actor_kind = "api_key";
    record.actor_id = context.caller->key_id;
    record.actor_name = context.caller->name;
    record.action = "partner_key.create";
    record.subject = key->key_id;
    record.request_id = context.request_id;
    record.source_address = context.source_address;
    record.details_json = nlohmann::json{{"partner_id", partner_id}, {"algorithm", key->algorithm}}.dump();
    audit::record(txn, record);
    return Reply::of(201, key_message(key.value()));
  });
}

asio::awaitable<Reply> revoke_key(Service& service, RequestContext& context) {
  v1::RevokePartnerKeyRequest request;
  if (auto bad = parse_body(context, request)) co_return *bad;
  const std::string partner_id = context.param("partner_id");
  const std::string key_id = context.param("key_id");
  co_return co_await service.write(context, db::routing_key_of("partner:" + partner_id), request, false,
                                   [&](pqxx::transaction_base& txn) {
                                     const auto key = partners::revoke_key(txn, partner_id, key_id);
                                     if (!key) return partner_refusal_reply(key.refusal());
                                     return Reply::of(200, key_message(key.value()));
                                   });
}

asio::awaitable<Reply> add_right(Service& service, RequestContext& context) {
  v1::PartnerRightDefinition request;
  if (auto bad = parse_body(context, request)) co_return *bad;
  Validation validation;
  const program::PartnerRight right = right_of(request, "", validation);
  if (!validation.ok()) co_return validation.reply();
  const std::string partner_id = context.param("partner_id");
  co_return co_await service.write(
      context, db::routing_key_of("partner:" + partner_id), request, false, [&](pqxx::transaction_base& txn) {
        const auto added = partners::add_right(txn, program_of(service.program(txn)), partner_id, right);
        if (!added) return partner_refusal_reply(added.refusal());
        Reply reply = Reply::of(added.value() == partners::Replay::fresh ? 201 : 200, right_message(right));
        reply.keep_writes = added.value() == partners::Replay::fresh;
        return reply;
      });
}

v1::PartnerLink link_message(const partners::MemberLink& link) {
  v1::PartnerLink message;
  message.set_member_id(link.member_id);
  message.set_partner_id(link.partner_id);
  message.set_partner_member_ref(link.partner_member_ref);
  message.set_linked_at(format_rfc3339(link.linked_at));
  message.set_created_at(format_rfc3339(link.linked_at));
  message.set_status(partners::to_string(link.status));
  if (link.link_code_expires_at) message.set_link_code_expires_at(format_rfc3339(*link.link_code_expires_at));
  if (link.confirmed_at) message.set_confirmed_at(format_rfc3339(*link.confirmed_at));
  return message;
}

// The link is made pending, with a one-time code for the partner to redeem
// (docs/api/partners.md, "Member links"). The code is never stored — only its hash — so it is
// added to the answer after the write, and only to the answer of the request that issued it:
// what an Idempotency-Key records, and replays, is the link without its code.
asio::awaitable<Reply> link_member(Service& service, RequestContext& context) {
  v1::CreatePartnerLinkRequest request;
  if (auto bad = parse_body(context, request)) co_return *bad;
  Validation validation;
  if (request.partner_id().empty()) validation.fail("partner_id", "is required");
  if (!partners::is_member_ref(request.partner_member_ref())) {
    validation.fail("partner_member_ref", "1 to 128 of [A-Za-z0-9_.:-]");
  }
  if (!validation.ok()) co_return validation.reply();
  const std::string member_id = context.param("member_id");
  std::optional<std::string> issued_code;  // set by the run of the work that is kept
  Reply reply =
      co_await service.write(context, db::routing_key_of(member_id), request, false, [&](pqxx::transaction_base& txn) {
        issued_code.reset();
        if (!partners::find_partner(txn, program_of(service.program(txn)), request.partner_id())) {
          return partner_refusal_reply(partners::Refusal::partner_not_found);
        }
        const auto linked = partners::link_member(txn, member_id, request.partner_id(), request.partner_member_ref(),
                                                  context.received_at);
        if (!linked) return partner_refusal_reply(linked.refusal());
        const auto& [link, outcome] = linked.value();
        issued_code = link.link_code;
        Reply answer = Reply::of(outcome == partners::LinkOutcome::created ? 201 : 200, link_message(link));
        answer.keep_writes = outcome != partners::LinkOutcome::already_confirmed;
        return answer;
      });
  const bool replayed = std::any_of(reply.headers.begin(), reply.headers.end(),
                                    [](const auto& header) { return header.first == "Idempotent-Replayed"; });
  if (reply.succeeded() && issued_code && !replayed && reply.message &&
      reply.message->GetDescriptor() == v1::PartnerLink::descriptor()) {
    v1::PartnerLink with_code;
    with_code.CopyFrom(*reply.message);
    with_code.set_link_code(*issued_code);
    reply.message = std::make_shared<v1::PartnerLink>(std::move(with_code));
  }
  co_return reply;
}

asio::awaitable<Reply> create_outbound_exchange(Service& service, RequestContext& context) {
  v1::CreateOutboundExchangeRequest request;
  if (auto bad = parse_body(context, request)) co_return *bad;
  Validation validation;
  if (!partners::is_natural_id(request.exchange_id())) validation.fail("exchange_id", "1 to 128 of [A-Za-z0-9_.:-]");
  if (request.member_id().empty()) validation.fail("member_id", "is required");
  if (request.partner_id().empty()) validation.fail("partner_id", "is required");
  if (request.points() <= 0) validation.fail("points", "must be a whole number of points greater than zero");
  if (!validation.ok()) co_return validation.reply();
  // Routed by partner, as inbound exchanges are (api/partner_routes.cpp): the partner's daily
  // total row is then written by one worker's batches, never waited on across workers.
  co_return co_await service.write(
      context, db::routing_key_of("exchanges:" + request.partner_id()), request, false,
      [&](pqxx::transaction_base& txn) {
        const auto version = service.program(txn);
        const partners::ProgramContext program{program_of(version), version ? version->version : 0};
        const auto partner = partners::find_partner(txn, program.program, request.partner_id());
        if (!partner) return partner_refusal_reply(partners::Refusal::partner_not_found);
        const auto done = partners::exchange_outbound(txn, program, partner->terms,
                                                      {request.exchange_id(), request.member_id(), request.points()},
                                                      context.received_at, context.origin());
        if (!done) return partner_refusal_reply(done.refusal());
        const auto& [exchange, replay] = done.value();
        v1::OutboundExchange message;
        message.set_exchange_id(exchange.exchange_id);
        message.set_member_id(exchange.member_id);
        message.set_partner_id(exchange.partner_id);
        message.set_partner_member_ref(exchange.partner_member_ref);
        message.set_points(exchange.points);
        message.set_partner_units(exchange.units);
        message.set_entry_id(exchange.entry_id);
        message.set_settlement_date(exchange.settlement_date);
        message.set_created_at(format_rfc3339(exchange.created_at));
        Reply reply = Reply::of(201, std::move(message));
        reply.keep_writes = replay == partners::Replay::fresh;
        return reply;
      });
}

asio::awaitable<Reply> list_partners(Service& service, RequestContext& context) {
  int limit = 0;
  std::optional<KeyCursor> cursor;
  if (auto bad = parse_key_page(context, limit, cursor)) co_return *bad;
  const std::optional<std::string> after = cursor ? std::optional(cursor->text) : std::nullopt;
  co_return co_await service.read(db::routing_key_of("partners"), [&](pqxx::transaction_base& txn) {
    const auto page = partners::list_partners(txn, program_of(service.program(txn)), after, limit);
    v1::PartnerList message;
    for (const auto& partner : page.items) *message.add_items() = partner_message(partner);
    if (page.next_after) message.set_next_cursor(encode_cursor(KeyCursor{0, *page.next_after}));
    return Reply::of(200, std::move(message));
  });
}

asio::awaitable<Reply> list_links(Service& service, RequestContext& context) {
  const std::string member_id = context.param("member_id");
  int limit = 0;
  std::optional<KeyCursor> cursor;
  if (auto bad = parse_key_page(context, limit, cursor)) co_return *bad;
  std::optional<partners::LinkKey> before;
  if (cursor) before = partners::LinkKey{Timestamp{std::chrono::microseconds{cursor->number}}, cursor->text};
  co_return co_await service.read(db::routing_key_of(member_id), [&](pqxx::transaction_base& txn) {
    const auto page = partners::list_member_links(txn, member_id, before, limit);
    if (!page) return partner_refusal_reply(page.refusal());
    v1::PartnerLinkList message;
    for (const auto& link : page->items) *message.add_items() = link_message(link);
    if (page->next_before) {
      message.set_next_cursor(encode_cursor(
          KeyCursor{page->next_before->linked_at.time_since_epoch().count(), page->next_before->partner_id}));
    }
    return Reply::of(200, std::move(message));
  });
}

asio::awaitable<Reply> list_keys(Service& service, RequestContext& context) {
  const std::string partner_id = context.param("partner_id");
  int limit = 0;
  std::optional<KeyCursor> cursor;
  if (auto bad = parse_key_page(context, limit, cursor)) co_return *bad;
  std::optional<partners::KeyPosition> before;
  if (cursor) before = partners::KeyPosition{Timestamp{std::chrono::microseconds{cursor->number}}, cursor->text};
  co_return co_await service.read(db::routing_key_of("partner:" + partner_id), [&](pqxx::transaction_base& txn) {
    const auto partner = partners::find_partner(txn, program_of(service.program(txn)), partner_id);
    if (!partner) return partner_refusal_reply(partners::Refusal::partner_not_found);
    const auto page = partners::list_keys(txn, partner_id, before, limit);
    v1::PartnerKeyList message;
    for (const auto& key : page.items) {
      auto& item = *message.add_items() = key_message(key);
      item.clear_secret();  // only the answer that made a key ever carries its secret
    }
    if (page.next_before) {
      message.set_next_cursor(
          encode_cursor(KeyCursor{page.next_before->created_at.time_since_epoch().count(), page.next_before->key_id}));
    }
    return Reply::of(200, std::move(message));
  });
}

asio::awaitable<Reply> list_exchanges(Service& service, RequestContext& context) {
  const std::string partner_id = context.param("partner_id");
  int limit = 0;
  std::optional<std::int64_t> before;
  if (auto bad = parse_page(context, limit, before)) co_return *bad;
  co_return co_await service.read(db::routing_key_of("partner:" + partner_id), [&](pqxx::transaction_base& txn) {
    const auto partner = partners::find_partner(txn, program_of(service.program(txn)), partner_id);
    if (!partner) return partner_refusal_reply(partners::Refusal::partner_not_found);
    const auto page = partners::list_partner_exchanges(txn, partner_id, before, limit);
    v1::ExchangeList message;
    for (const auto& exchange : page.items) {
      auto* item = message.add_items();
      item->set_exchange_id(exchange.exchange_id);
      item->set_direction(exchange.direction);
      item->set_member_id(exchange.member_id);
      item->set_points(exchange.points);
      item->set_partner_amount(exchange.units);
      item->set_partner_asset(partner->terms.asset);
      // An exchange is stored with the entry that moved its value, in one transaction.
      item->set_status("completed");
      item->set_created_at(format_rfc3339(exchange.created_at));
      item->set_entry_id(exchange.entry_id);
      item->set_partner_member_ref(exchange.partner_member_ref);
      item->set_settlement_date(exchange.settlement_date);
    }
    if (page.next_before) message.set_next_cursor(encode_cursor(*page.next_before));
    return Reply::of(200, std::move(message));
  });
}

// The statement's own JSON document, read into the message that mirrors it field for field.
v1::PartnerStatement statement_message(const partners::StatementRecord& record) {
  v1::PartnerStatement message;
  const auto parsed = google::protobuf::util::JsonStringToMessage(record.statement.document, &message);
  if (!parsed.ok()) {
    throw std::runtime_error("statement " + record.statement.statement_id +
                             " does not read as a PartnerStatement: " + parsed.ToString());
  }
  message.set_signature_ok(record.signature_ok);
  if (record.acknowledged_at) message.set_acknowledged_at(format_rfc3339(*record.acknowledged_at));
  message.set_dispute(record.dispute);
  return message;
}

asio::awaitable<Reply> list_statements(Service& service, RequestContext& context) {
  const std::string partner_id = context.param("partner_id");
  int limit = 0;
  std::optional<KeyCursor> cursor;
  if (auto bad = parse_key_page(context, limit, cursor)) co_return *bad;
  if (cursor && !partners::is_date(cursor->text)) {
    co_return problem(422, "validation_failed", "cursor: not a cursor this API returned");
  }
  const std::optional<std::string> before = cursor ? std::optional(cursor->text) : std::nullopt;
  const std::string today = partners::utc_date(context.received_at);
  co_return co_await service.read(db::routing_key_of("partner:" + partner_id), [&](pqxx::transaction_base& txn) {
    if (!partners::find_partner(txn, program_of(service.program(txn)), partner_id)) {
      return partner_refusal_reply(partners::Refusal::partner_not_found);
    }
    partners::StatementPage page;
    try {
      page = partners::list_statements(txn, partner_id, today, before, limit);
    } catch (const partners::StatementOverflow& overflow) {
      return figure_overflow("statement", overflow);
    }
    v1::StatementList message;
    for (const auto& record : page.items) *message.add_items() = statement_message(record);
    if (page.next_before_date) message.set_next_cursor(encode_cursor(KeyCursor{0, *page.next_before_date}));
    return Reply::of(200, std::move(message));
  });
}

}  // namespace

void add_partner_admin_routes(Router& router, Service& service) {
  using http::verb;
  router.add(verb::post, "/v1/partners", {Role::admin},
             [&service](RequestContext& c) { return create_partner(service, c); });
  router.add(verb::get, "/v1/partners", {Role::admin},
             [&service](RequestContext& c) { return list_partners(service, c); });
  router.add(verb::get, "/v1/partners/{partner_id}/exchanges", {Role::admin, Role::finance},
             [&service](RequestContext& c) { return list_exchanges(service, c); });
  router.add(verb::get, "/v1/partners/{partner_id}/statements", {Role::admin, Role::finance},
             [&service](RequestContext& c) { return list_statements(service, c); });
  router.add(verb::get, "/v1/members/{member_id}/partner-links", {Role::admin, Role::mall},
             [&service](RequestContext& c) { return list_links(service, c); });
  router.add(verb::get, "/v1/partners/{partner_id}", {Role::admin},
             [&service](RequestContext& c) { return get_partner(service, c); });
  router.add(verb::post, "/v1/partners/{partner_id}/keys", {Role::admin},
             [&service](RequestContext& c) { return create_key(service, c); });
  router.add(verb::get, "/v1/partners/{partner_id}/keys", {Role::admin},
             [&service](RequestContext& c) { return list_keys(service, c); });
  router.add(verb::post, "/v1/partners/{partner_id}/keys/{key_id}/revoke", {Role::admin},
             [&service](RequestContext& c) { return revoke_key(service, c); });
  router.add(verb::post, "/v1/partners/{partner_id}/rights", {Role::admin},
             [&service](RequestContext& c) { return add_right(service, c); });
  router.add(verb::post, "/v1/members/{member_id}/partner-links", {Role::admin, Role::mall},
             [&service](RequestContext& c) { return link_member(service, c); });
  router.add(verb::post, "/v1/exchanges", {Role::mall, Role::admin},
             [&service](RequestContext& c) { return create_outbound_exchange(service, c); });
}

}  // namespace loyalty::api
