// The partner-signed API: POST /partner/v1/links/confirm, POST /partner/v1/exchanges,
// GET /partner/v1/members/{ref}/rights, POST /partner/v1/rights/{code}/claims,
// GET /partner/v1/statements, POST .../ack; and, open
// to anyone, our public signing keys: GET /partner/v1/signing-keys (the current key's PEM, or
// with Accept: application/json the list of keys) and GET /partner/v1/signing-keys/{key_id}.
//
// A partner only ever sees its own data: every lookup is scoped by the partner the signature
// proved (context.partner), and anything else is 404. Members appear only as the partner's ref.
#include <boost/asio/awaitable.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <string_view>

#include <nlohmann/json.hpp>

#include "api/partner_auth.hpp"
#include "api/proto/loyalty/v1/partners.pb.h"
#include "api/routes.hpp"
#include "api/service.hpp"
#include "audit/audit_log.hpp"
#include "partners/exchanges.hpp"
#include "partners/links.hpp"
#include "partners/registry.hpp"
#include "partners/rights.hpp"
#include "partners/settlement.hpp"
#include "partners/signing_keys.hpp"
#include "partners/statements.hpp"
#include "platform/executor.hpp"

namespace loyalty::api {
namespace asio = boost::asio;
namespace {

void audit_partner_write(pqxx::transaction_base& txn, const RequestContext& context, const std::string& subject,
                         int status) {
  audit::AuditRecord record;
  record.actor_kind = "partner";
  record.actor_id = context.partner->partner_id;
  record.actor_name = context.partner->key_id;
  record.action = context.route;
  record.subject = subject;
  record.request_id = context.request_id;
  record.source_address = context.source_address;
  record.details_json = nlohmann::json{{"status", status}}.dump();
  audit::record(txn, record);
}

std::uint64_t exchange_routing_key(const std::string& partner_id) {
  return db::routing_key_of("exchanges:" + partner_id);
}

// A replayed answer is a success that must not write (Service::transact rolls it back).
template <typename M>
Reply answer(int status, M message, partners::Replay replay) {
  Reply reply = Reply::of(status, std::move(message));
  reply.keep_writes = replay == partners::Replay::fresh;
  return reply;
}

asio::awaitable<Reply> create_inbound_exchange(Service& service, RequestContext& context) {
  v1::CreateInboundExchangeRequest request;
  if (auto bad = parse_body(context, request)) co_return *bad;
  Validation validation;
  if (!partners::is_natural_id(request.exchange_id())) validation.fail("exchange_id", "1 to 128 of [A-Za-z0-9_.:-]");
  if (!partners::is_member_ref(request.partner_member_ref())) {
    validation.fail("partner_member_ref", "1 to 128 of [A-Za-z0-9_.:-]");
  }
  if (request.partner_units() <= 0) validation.fail("partner_units", "must be a whole number greater than zero");
  if (!validation.ok()) co_return validation.reply();
  const std::string partner_id = context.partner->partner_id;
  // Every exchange of a partner adds to the partner's daily total row: routed to one worker,
  // they meet in its group-commit batches instead of waiting on that row across workers.
  co_return co_await service.write(
      context, exchange_routing_key(partner_id), request, false, [&](pqxx::transaction_base& txn) {
        const auto version = service.program(txn);
        const partners::ProgramContext program{version ? &version->program : nullptr, version ? version->version : 0};
        const auto partner = partners::find_partner(txn, program.program, partner_id);
        if (!partner) return partner_refusal_reply(partners::Refusal::partner_not_found);
        const auto done =
            partners::exchange_inbound(txn, program, partner->terms,
                                       {request.exchange_id(), request.partner_member_ref(), request.partner_units()},
                                       context.received_at, partner_origin(context));
        if (!done) return partner_refusal_reply(done.refusal());
        const auto& [exchange, replay] = done.value();
        v1::InboundExchange message;
        message.set_exchange_id(exchange.exchange_id);
        message.set_partner_member_ref(exchange.partner_member_ref);
        message.set_partner_units(exchange.units);
        message.set_points(exchange.points);
        message.set_settlement_date(exchange.settlement_date);
        message.set_created_at(format_rfc3339(exchange.created_at));
        if (replay == partners::Replay::fresh)
          audit_partner_write(txn, context, "exchange:" + exchange.exchange_id, 201);
        return answer(201, std::move(message), replay);
      });
}

asio::awaitable<Reply> list_member_rights(Service& service, RequestContext& context) {
  const std::string partner_id = context.partner->partner_id;
  const std::string ref = context.param("partner_member_ref");
  if (!partners::is_member_ref(ref)) co_return partner_refusal_reply(partners::Refusal::member_ref_unknown);
  co_return co_await service.read(db::routing_key_of(partner_id + ":" + ref), [&](pqxx::transaction_base& txn) {
    const auto version = service.program(txn);
    const program::Program* program = version ? &version->program : nullptr;
    const auto partner = partners::find_partner(txn, program, partner_id);
    if (!partner) return partner_refusal_reply(partners::Refusal::partner_not_found);
    const auto rights = partners::rights_of_member(txn, program, partner->terms, ref, context.received_at);
    if (!rights) return partner_refusal_reply(rights.refusal());
    v1::MemberRights message;
    for (const auto& right : rights.value()) {
      auto* item = message.add_rights();
      item->set_code(right.code);
      item->set_title(right.title);
      item->set_remaining(right.remaining);
    }
    return Reply::of(200, std::move(message));
  });
}

asio::awaitable<Reply> claim_right(Service& service, RequestContext& context) {
  v1::CreateRightClaimRequest request;
  if (auto bad = parse_body(context, request)) co_return *bad;
  Validation validation;
  if (!partners::is_natural_id(request.claim_id())) validation.fail("claim_id", "1 to 128 of [A-Za-z0-9_.:-]");
  if (!partners::is_member_ref(request.partner_member_ref())) {
    validation.fail("partner_member_ref", "1 to 128 of [A-Za-z0-9_.:-]");
  }
  if (!validation.ok()) co_return validation.reply();
  const std::string partner_id = context.partner->partner_id;
  const std::string code = context.param("code");
  co_return co_await service.write(context, db::routing_key_of(partner_id + ":" + request.partner_member_ref()),
                                   request, false, [&](pqxx::transaction_base& txn) {
                                     const auto version = service.program(txn);
                                     const program::Program* program = version ? &version->program : nullptr;
                                     const auto partner = partners::find_partner(txn, program, partner_id);
                                     if (!partner) return partner_refusal_reply(partners::Refusal::partner_not_found);
                                     const auto done =
                                         partners::claim_right(txn, program, partner->terms, code, request.claim_id(),
                                                               request.partner_member_ref(), context.received_at);
                                     if (!done) return partner_refusal_reply(done.refusal());
                                     const auto& [claim, replay] = done.value();
                                     v1::RightClaim message;
                                     message.set_claim_id(claim.claim_id);
                                     message.set_code(claim.code);
                                     message.set_partner_member_ref(claim.partner_member_ref);
                                     message.set_remaining(claim.remaining);
                                     message.set_period_start(claim.period_start);
                                     message.set_settlement_date(claim.settlement_date);
                                     message.set_created_at(format_rfc3339(claim.created_at));
                                     if (replay == partners::Replay::fresh)
                                       audit_partner_write(txn, context, "claim:" + claim.claim_id, 201);
                                     return answer(201, std::move(message), replay);
                                   });
}

asio::awaitable<Reply> get_statement(Service& service, RequestContext& context) {
  const auto date = context.query_value("date");
  if (!date || !partners::is_date(*date)) co_return problem(422, "validation_failed", "date: a UTC day, YYYY-MM-DD");
  if (*date > partners::utc_date(context.received_at)) {
    co_return problem(422, "validation_failed", "date: a day that has not begun has no statement");
  }
  const std::string partner_id = context.partner->partner_id;
  co_return co_await service.read(db::routing_key_of(partner_id), [&](pqxx::transaction_base& txn) {
    try {
      const auto statement = partners::statement_for(txn, partner_id, *date);
      // The exact bytes that were hashed (and, once closed, stored and signed).
      return Reply::text(200, statement.document, "application/json");
    } catch (const partners::StatementOverflow& overflow) {
      return figure_overflow("statement", overflow);
    }
  });
}

asio::awaitable<Reply> acknowledge_statement(Service& service, RequestContext& context) {
  v1::AcknowledgeStatementRequest request;
  if (auto bad = parse_body(context, request)) co_return *bad;
  if (request.statement_sha256().size() != 64 ||
      request.statement_sha256().find_first_not_of("0123456789abcdef") != std::string::npos) {
    Validation validation;
    validation.fail("statement_sha256", "64 lowercase hex digits");
    co_return validation.reply();
  }
  const std::string statement_id = context.param("statement_id");
  const auto routing_key = db::routing_key_of(context.partner->partner_id);
  // With an Idempotency-Key the answer (an acknowledgement, or the 409 of a dispute it recorded)
  // is the key's: a dispute commits and then answers 409, so one transaction cannot record it.
  co_return co_await service.idempotent_operation(context, routing_key, request, [&]() -> asio::awaitable<Reply> {
    partners::AckOutcome outcome = partners::AckOutcome::acknowledged;
    Reply reply = co_await service.transact(routing_key, [&](pqxx::transaction_base& txn) {
      const auto done =
          partners::acknowledge_statement(txn, context.partner->partner_id, statement_id, request.statement_sha256(),
                                          context.partner->key_id, context.request_id, context.received_at);
      if (!done) return partner_refusal_reply(done.refusal());
      outcome = done->outcome;
      audit_partner_write(txn, context, "statement:" + statement_id,
                          outcome == partners::AckOutcome::acknowledged ? 200 : 409);
      v1::StatementAcknowledgement message;
      message.set_statement_id(done->statement_id);
      message.set_status("acknowledged");
      message.set_statement_sha256(done->statement_sha256);
      message.set_acknowledged_at(format_rfc3339(done->at));
      // A dispute must be recorded, so this transaction commits; the answer is a 409 below.
      return Reply::of(200, std::move(message));
    });
    if (reply.succeeded() && outcome == partners::AckOutcome::dispute_recorded) {
      co_return problem(409, "statement_disputed",
                        "statement_sha256 does not match this statement: the mismatch is recorded as a dispute and the "
                        "statement is blocked until it is resolved");
    }
    co_return reply;
  });
}

// A link code's redemption. A wrong code must be counted even though its answer is a refusal,
// so, like a disputed acknowledgement, the transaction commits and the problem is made after
// it; with an Idempotency-Key the problem is the key's answer.
asio::awaitable<Reply> confirm_link(Service& service, RequestContext& context) {
  v1::ConfirmPartnerLinkRequest request;
  if (auto bad = parse_body(context, request)) co_return *bad;
  Validation validation;
  if (!partners::is_member_ref(request.partner_member_ref())) {
    validation.fail("partner_member_ref", "1 to 128 of [A-Za-z0-9_.:-]");
  }
  if (!partners::canonical_link_code(request.link_code())) {
    validation.fail("link_code", "the code as shown to the member: 10 letters and digits, e.g. ABCDE-FGHJK");
  }
  if (!validation.ok()) co_return validation.reply();
  const std::string partner_id = context.partner->partner_id;
  const std::string& ref = request.partner_member_ref();
  const auto routing_key = db::routing_key_of(partner_id + ":" + ref);
  co_return co_await service.idempotent_operation(context, routing_key, request, [&]() -> asio::awaitable<Reply> {
    std::optional<int> wrong_code_attempts_left;  // set: a wrong code was counted, and committed
    Reply reply = co_await service.transact(routing_key, [&](pqxx::transaction_base& txn) {
      wrong_code_attempts_left.reset();
      const std::string confirmed_by = partner_origin(context).actor.value_or("partner:" + partner_id);
      const auto done =
          partners::confirm_link(txn, partner_id, ref, request.link_code(), confirmed_by, context.received_at);
      if (!done) return partner_refusal_reply(done.refusal());
      if (done->outcome == partners::ConfirmOutcome::wrong_code) {
        wrong_code_attempts_left = done->attempts_left;
        audit_partner_write(txn, context, "partner_link:" + ref, 422);
        return Reply::of(200, v1::ConfirmedPartnerLink{});  // commits the count; answered below
      }
      v1::ConfirmedPartnerLink message;
      message.set_partner_member_ref(done->link.partner_member_ref);
      message.set_status(partners::to_string(done->link.status));
      message.set_linked_at(format_rfc3339(done->link.linked_at));
      if (done->link.confirmed_at) message.set_confirmed_at(format_rfc3339(*done->link.confirmed_at));
      const bool fresh = done->outcome == partners::ConfirmOutcome::confirmed;
      if (fresh) audit_partner_write(txn, context, "partner_link:" + ref, 200);
      return answer(200, std::move(message), fresh ? partners::Replay::fresh : partners::Replay::replayed);
    });
    if (reply.succeeded() && wrong_code_attempts_left) {
      co_return problem(422, "invalid_link_code",
                        *wrong_code_attempts_left > 0
                            ? "this is not the link code of this partner_member_ref; attempts left: " +
                                  std::to_string(*wrong_code_attempts_left)
                            : std::string("this is not the link code of this partner_member_ref, and that was the "
                                          "last attempt: the code is void; the member gets a new one from the "
                                          "program's app"));
    }
    co_return reply;
  });
}

// The q value the Accept header gives `type` exactly (wildcards do not count): 0 when the
// header does not name it (or refuses it with q=0).
double accept_quality(std::string_view accept, std::string_view type) {
  const auto trim = [](std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
    return text;
  };
  const auto iequal = [](std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
             return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
  };
  double best = 0;
  while (!accept.empty()) {
    const auto comma = accept.find(',');
    std::string_view range = accept.substr(0, comma);
    accept.remove_prefix(comma == std::string_view::npos ? accept.size() : comma + 1);
    const auto semicolon = range.find(';');
    if (!iequal(trim(range.substr(0, semicolon)), type)) continue;
    double quality = 1;
    std::string_view parameters = semicolon == std::string_view::npos ? "" : range.substr(semicolon + 1);
    while (!parameters.empty()) {
      const auto next = parameters.find(';');
      const std::string_view parameter = trim(parameters.substr(0, next));
      parameters.remove_prefix(next == std::string_view::npos ? parameters.size() : next + 1);
      if (parameter.size() > 2 && (parameter[0] == 'q' || parameter[0] == 'Q') && parameter[1] == '=') {
        const std::string_view value = parameter.substr(2);
        const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), quality);
        if (error != std::errc{} || end != value.data() + value.size()) quality = 0;
      }
    }
    best = std::max(best, quality);
  }
  return best;
}

// The contract's answer (§3): the public key we sign with now, as PEM, for stock OpenSSL.
Reply current_signing_key_pem(Service& service) {
  const SigningKey& key = service.signing_key();
  if (!key) {
    return problem(503, "signing_key_unavailable",
                   "this server has no signing key (LOYALTY_SIGNING_KEY): its responses are not signed");
  }
  return Reply::text(200, key.public_pem(), "application/x-pem-file");  // Service::encode adds X-Key-Id (and signs it)
}

// GET /partner/v1/signing-keys: by default (no Accept, */*, application/x-pem-file, anything
// else) the current key's PEM. Our extension, for a client that asks for it with
// Accept: application/json (preferred at least as much as application/x-pem-file) or
// application/x-protobuf: the list of every key in use, {keys: [{key_id, algorithm,
// public_key_pem, current}]}.
asio::awaitable<Reply> list_signing_keys(Service& service, RequestContext& context) {
  const std::string accept = context.header("Accept").value_or("");
  const double pem_quality = accept_quality(accept, "application/x-pem-file");
  const bool wants_list = accept_quality(accept, "application/json") > pem_quality ||
                          accept_quality(accept, "application/x-protobuf") > pem_quality;
  Reply reply;
  if (!wants_list) {
    reply = current_signing_key_pem(service);
  } else {
    reply = co_await service.read(0, [&](pqxx::transaction_base& txn) {
      v1::SigningKeys message;
      const SigningKey& current = service.signing_key();
      bool current_listed = false;
      for (const auto& key : partners::active_signing_keys(txn)) {
        auto* item = message.add_keys();
        item->set_key_id(key.key_id);
        item->set_algorithm("ed25519");
        item->set_public_key_pem(key.public_key_pem);
        item->set_current(current && current.key_id() == key.key_id);
        current_listed = current_listed || item->current();
      }
      // The key in use is always listed, registered or not.
      if (current && !current_listed) {
        auto* item = message.add_keys();
        item->set_key_id(current.key_id());
        item->set_algorithm("ed25519");
        item->set_public_key_pem(current.public_pem());
        item->set_current(true);
      }
      return Reply::of(200, std::move(message));
    });
  }
  reply.headers.emplace_back("Vary", "Accept");
  co_return reply;
}

asio::awaitable<Reply> get_signing_key_pem(Service& service, RequestContext& context) {
  const std::string key_id = context.param("key_id");
  co_return co_await service.read(0, [&](pqxx::transaction_base& txn) {
    if (const SigningKey& current = service.signing_key(); current && current.key_id() == key_id) {
      return Reply::text(200, current.public_pem(), "application/x-pem-file");
    }
    // Retired keys too: signatures they made stay checkable.
    if (const auto pem = partners::registered_public_pem(txn, key_id)) {
      return Reply::text(200, *pem, "application/x-pem-file");
    }
    return problem(404, "not_found", "no signing key has this id");
  });
}

}  // namespace

Reply partner_refusal_reply(partners::Refusal refusal) {
  using partners::Refusal;
  switch (refusal) {
    case Refusal::partner_not_found: return problem(404, "not_found", "no partner has this id");
    case Refusal::partner_defined_by_program:
      return problem(409, "conflict", "this partner is defined by the program document; change it there");
    case Refusal::partner_exists_differently:
      return problem(409, "conflict", "a partner with this id exists with another definition");
    case Refusal::asset_taken: return problem(409, "conflict", "asset: this asset code is in use already");
    case Refusal::right_not_found: return problem(404, "not_found", "the partner has no right with this code");
    case Refusal::right_exists_differently:
      return problem(409, "conflict", "a right with this code exists with another definition");
    case Refusal::level_unknown:
      return problem(422, "validation_failed", "min_levels: names a level its track does not have");
    case Refusal::key_not_found: return problem(404, "not_found", "the partner has no key with this id");
    case Refusal::public_key_invalid:
      return problem(422, "validation_failed",
                     "public_key_pem: an ed25519 key needs its public key as PEM (SubjectPublicKeyInfo); "
                     "an hmac-sha256 key takes none");
    case Refusal::member_not_found: return problem(404, "member_not_found", "no member has this id");
    case Refusal::member_ref_unknown:
      return problem(404, "member_not_found", "no member is linked to this partner under this partner_member_ref");
    case Refusal::link_conflict:
      return problem(409, "conflict", "the member or the partner_member_ref is linked differently already");
    case Refusal::not_linked:
      return problem(422, "not_linked", "the member has no link to this partner (POST /v1/members/{id}/partner-links)");
    case Refusal::link_not_confirmed:
      return problem(422, "link_not_confirmed",
                     "the link between the member and this partner is pending: the partner has not confirmed it "
                     "with its link code (POST /partner/v1/links/confirm)");
    case Refusal::link_code_expired:
      return problem(409, "link_code_expired",
                     "this link code has expired: the member gets a new one from the program's app");
    case Refusal::link_code_locked:
      return problem(409, "link_code_locked",
                     "too many wrong link codes: this code is void; the member gets a new one from the program's app");
    case Refusal::link_already_confirmed:
      return problem(409, "link_already_confirmed", "this link is confirmed already, and not with this code");
    case Refusal::units_not_whole:
      return problem(422, "validation_failed", "points: at this partner's rate they would not make whole units");
    case Refusal::amount_overflow: return problem(422, "amount_overflow", "an amount would exceed 2^63-1");
    case Refusal::insufficient_points:
      return problem(422, "insufficient_points", "the member's available points do not cover this amount");
    case Refusal::limit_exceeded: return problem(422, "limit_exceeded", "this would pass a daily limit or a quota");
    case Refusal::not_eligible:
      return problem(422, "not_eligible", "the member's tier levels do not meet this right's min_levels");
    case Refusal::id_reused: return problem(409, "conflict", "this id was used before with a different request");
    case Refusal::statement_not_found: return problem(404, "not_found", "no statement has this id");
    case Refusal::statement_not_closed:
      return problem(409, "statement_not_closed", "only a closed statement can be acknowledged");
    case Refusal::statement_disputed:
      return problem(409, "statement_disputed", "this statement is disputed and blocked until it is resolved");
  }
  return problem(500, "internal_error", "unmapped refusal");
}

void add_partner_routes(Router& router, Service& service) {
  using http::verb;
  add_partner_admin_routes(router, service);
  router.add_partner(verb::post, "/partner/v1/links/confirm",
                     [&service](RequestContext& c) { return confirm_link(service, c); });
  router.add_partner(verb::post, "/partner/v1/exchanges",
                     [&service](RequestContext& c) { return create_inbound_exchange(service, c); });
  router.add_partner(verb::get, "/partner/v1/members/{partner_member_ref}/rights",
                     [&service](RequestContext& c) { return list_member_rights(service, c); });
  router.add_partner(verb::post, "/partner/v1/rights/{code}/claims",
                     [&service](RequestContext& c) { return claim_right(service, c); });
  router.add_partner(verb::get, "/partner/v1/statements",
                     [&service](RequestContext& c) { return get_statement(service, c); });
  router.add_partner(verb::post, "/partner/v1/statements/{statement_id}/ack",
                     [&service](RequestContext& c) { return acknowledge_statement(service, c); });
  router.add(verb::get, "/partner/v1/signing-keys", {},
             [&service](RequestContext& c) { return list_signing_keys(service, c); });
  router.add(verb::get, "/partner/v1/signing-keys/{key_id}", {},
             [&service](RequestContext& c) { return get_signing_key_pem(service, c); });
}

}  // namespace loyalty::api
