// POST /v1/members, GET /v1/members?external_id=, GET /v1/members/{member_id}, .../balances,
// .../entries, .../lots, .../holds, .../orders
#include <boost/asio/awaitable.hpp>

#include <charconv>

#include "api/limits.hpp"
#include "api/messages.hpp"
#include "api/routes.hpp"
#include "api/service.hpp"
#include "ledger/accounts.hpp"
#include "ledger/holds.hpp"
#include "ledger/lots.hpp"
#include "ledger/members.hpp"
#include "mall/orders.hpp"
#include "membership/tiers.hpp"
#include "platform/digest.hpp"
#include "platform/executor.hpp"
#include "platform/text.hpp"

namespace loyalty::api {
namespace asio = boost::asio;
namespace {

constexpr std::size_t cursor_text_bytes_max = 256;  // every id a cursor carries is shorter

void fill_balances(google::protobuf::Map<std::string, v1::AssetBalance>& out,
                   const std::map<std::string, ledger::AssetBalance>& balances) {
  for (const auto& [asset, balance] : balances) {
    v1::AssetBalance& item = out[asset];
    item.set_available(balance.available);
    item.set_pending(balance.pending);
    item.set_held(balance.held);
    item.set_total(balance.total);
    for (const auto& expiring : balance.expiring) {
      auto* entry = item.add_expiring();
      entry->set_expires_at(format_rfc3339(expiring.expires_at));
      entry->set_amount(expiring.amount);
    }
  }
}

v1::Member member_message(const ledger::Member& member) {
  v1::Member message;
  message.set_member_id(member.member_id);
  message.set_external_id(member.external_id);
  if (member.display_name) message.set_display_name(*member.display_name);
  if (member.phone) message.set_phone(*member.phone);
  message.set_created_at(format_rfc3339(member.created_at));
  return message;
}

// A member as GET /v1/members/{member_id} shows one: with balances and both tiers.
v1::Member member_with_balances_and_tiers(Service& service, pqxx::transaction_base& txn, const ledger::Member& member,
                                          Timestamp now) {
  v1::Member message = member_message(member);
  fill_balances(*message.mutable_balances(), ledger::read_balances(txn, member.member_id, now).value());
  if (const auto program = service.program(txn)) {
    for (const auto& [track, level] : membership::current_levels(txn, program->program, member.member_id)) {
      (*message.mutable_tiers())[track].set_level(level);
    }
  }
  return message;
}

asio::awaitable<Reply> create_member(Service& service, RequestContext& context) {
  v1::CreateMemberRequest request;
  if (auto bad = parse_body(context, request)) co_return *bad;
  Validation validation;
  if (request.external_id().empty() || request.external_id().size() > limits::external_id_chars_max) {
    validation.fail("external_id", "is required, at most 128 characters");
  }
  if (request.has_display_name() && request.display_name().size() > limits::display_name_chars_max) {
    validation.fail("display_name", "at most 200 characters");
  }
  if (request.has_phone() && (request.phone().empty() || request.phone().size() > limits::phone_chars_max ||
                              request.phone().find_first_not_of("+0123456789- ") != std::string::npos)) {
    validation.fail("phone", "digits, spaces, '+' and '-' only, at most 32 characters");
  }
  if (!validation.ok()) co_return validation.reply();
  ledger::NewMember member{request.external_id(),
                           request.has_display_name() ? std::optional(request.display_name()) : std::nullopt,
                           request.has_phone() ? std::optional(request.phone()) : std::nullopt};
  co_return co_await service.write(
      context, db::routing_key_of(request.external_id()), request, false, [&](pqxx::transaction_base& txn) {
        auto created = ledger::create_member(txn, member, context.received_at);
        if (!created) return refusal_reply(created.refusal());
        v1::Member message = member_message(created.value());
        auto balances = ledger::read_balances(txn, created->member_id, context.received_at);
        fill_balances(*message.mutable_balances(), balances.value());
        return Reply::of(201, std::move(message));
      });
}

asio::awaitable<Reply> get_member(Service& service, RequestContext& context) {
  const std::string member_id = context.param("member_id");
  co_return co_await service.read(db::routing_key_of(member_id), [&](pqxx::transaction_base& txn) {
    auto member = ledger::find_member(txn, member_id);
    if (!member) return refusal_reply(member.refusal());
    return Reply::of(200, member_with_balances_and_tiers(service, txn, member.value(), context.received_at));
  });
}

asio::awaitable<Reply> get_balances(Service& service, RequestContext& context) {
  const std::string member_id = context.param("member_id");
  co_return co_await service.read(db::routing_key_of(member_id), [&](pqxx::transaction_base& txn) {
    auto balances = ledger::read_balances(txn, member_id, context.received_at);
    if (!balances) return refusal_reply(balances.refusal());
    v1::Balances message;
    message.set_member_id(member_id);
    fill_balances(*message.mutable_balances(), balances.value());
    return Reply::of(200, std::move(message));
  });
}

asio::awaitable<Reply> list_entries(Service& service, RequestContext& context) {
  const std::string member_id = context.param("member_id");
  int limit = 0;
  std::optional<std::int64_t> before;
  if (auto bad = parse_page(context, limit, before)) co_return *bad;
  std::optional<std::string> asset = context.query_value("asset");
  if (asset && asset->empty()) asset.reset();
  co_return co_await service.read(db::routing_key_of(member_id), [&](pqxx::transaction_base& txn) {
    auto page = ledger::list_member_postings(txn, member_id, asset, before, limit);
    if (!page) return refusal_reply(page.refusal());
    v1::MemberEntryPage message;
    for (const auto& posting : page->items) {
      auto* item = message.add_items();
      item->set_entry_id(posting.entry_id);
      item->set_posting_id(posting.posting_id);
      item->set_kind(posting.kind);
      item->set_asset(posting.asset);
      item->set_part(posting.part);
      item->set_amount(posting.amount);
      item->set_balance_after(posting.balance_after);
      item->set_created_at(format_rfc3339(posting.created_at));
      if (posting.reference) item->set_reference(*posting.reference);
      if (posting.reverses_entry_id) item->set_reverses_entry_id(*posting.reverses_entry_id);
    }
    if (page->next_before_posting_id) message.set_next_cursor(encode_cursor(*page->next_before_posting_id));
    return Reply::of(200, std::move(message));
  });
}

// Contract v1.1: an exact match on the external id, answered as a list (empty when none).
asio::awaitable<Reply> find_members(Service& service, RequestContext& context) {
  const auto external_id = context.query_value("external_id");
  if (!external_id || external_id->empty() || external_id->size() > limits::external_id_chars_max) {
    co_return problem(400, "validation_failed", "external_id: is required, at most 128 characters");
  }
  co_return co_await service.read(db::routing_key_of(*external_id), [&](pqxx::transaction_base& txn) {
    v1::MemberList message;
    if (const auto member = ledger::find_member_by_external_id(txn, *external_id)) {
      *message.add_items() = member_with_balances_and_tiers(service, txn, *member, context.received_at);
    }
    return Reply::of(200, std::move(message));
  });
}

asio::awaitable<Reply> list_lots(Service& service, RequestContext& context) {
  const std::string member_id = context.param("member_id");
  int limit = 0;
  std::optional<std::int64_t> after;
  if (auto bad = parse_page(context, limit, after)) co_return *bad;
  const auto status = context.query_value("status").value_or("open");
  if (status != "open" && status != "all") co_return problem(422, "validation_failed", "status: open or all");
  // Only POINTS are kept in lots: any other asset has none.
  std::optional<std::string> asset = context.query_value("asset");
  if (asset && asset->empty()) asset.reset();
  const bool no_lots = asset && *asset != ledger::points_asset;
  co_return co_await service.read(db::routing_key_of(member_id), [&](pqxx::transaction_base& txn) {
    if (no_lots) {
      if (auto member = ledger::find_member(txn, member_id); !member) return refusal_reply(member.refusal());
      return Reply::of(200, v1::LotList{});
    }
    auto page = ledger::list_member_lots(txn, member_id, status == "open", after, limit);
    if (!page) return refusal_reply(page.refusal());
    v1::LotList message;
    for (const auto& lot : page->items) {
      auto* item = message.add_items();
      item->set_lot_id(lot.lot_id);
      item->set_asset(std::string(ledger::points_asset));
      item->set_amount(lot.amount);
      item->set_remaining(lot.remaining);
      item->set_earned_at(format_rfc3339(lot.earned_at));
      if (lot.available_at) item->set_available_at(format_rfc3339(*lot.available_at));
      item->set_expires_at(format_rfc3339(lot.expires_at));
      item->set_status(lot.status);
    }
    if (page->next_after_lot_id) message.set_next_cursor(encode_cursor(*page->next_after_lot_id));
    return Reply::of(200, std::move(message));
  });
}

asio::awaitable<Reply> list_holds(Service& service, RequestContext& context) {
  const std::string member_id = context.param("member_id");
  int limit = 0;
  std::optional<std::int64_t> before;
  if (auto bad = parse_page(context, limit, before)) co_return *bad;
  std::optional<std::string> status = context.query_value("status");
  if (status && status->empty()) status.reset();
  if (status && *status != "open" && *status != "captured" && *status != "voided" && *status != "expired") {
    co_return problem(422, "validation_failed", "status: open, captured, voided or expired");
  }
  co_return co_await service.read(db::routing_key_of(member_id), [&](pqxx::transaction_base& txn) {
    auto page = ledger::list_member_holds(txn, member_id, status, context.received_at, before, limit);
    if (!page) return refusal_reply(page.refusal());
    v1::HoldList message;
    for (const auto& hold : page->items) *message.add_items() = hold_message(hold);
    if (page->next_before_open_entry_id) message.set_next_cursor(encode_cursor(*page->next_before_open_entry_id));
    return Reply::of(200, std::move(message));
  });
}

asio::awaitable<Reply> list_orders(Service& service, RequestContext& context) {
  const std::string member_id = context.param("member_id");
  int limit = 0;
  std::optional<KeyCursor> cursor;
  if (auto bad = parse_key_page(context, limit, cursor)) co_return *bad;
  std::optional<mall::store::OrderKey> before;
  if (cursor) before = mall::store::OrderKey{Timestamp{std::chrono::microseconds{cursor->number}}, cursor->text};
  co_return co_await service.read(db::routing_key_of(member_id), [&](pqxx::transaction_base& txn) {
    // The only refusal a list can meet is an unknown member.
    auto page = mall::list_member_orders(txn, member_id, before, limit, context.received_at);
    if (!page) return refusal_reply(ledger::Refusal::member_not_found);
    v1::OrderList message;
    for (const auto& order : page->items) *message.add_items() = order_message(order);
    if (page->next_before) {
      message.set_next_cursor(encode_cursor(
          KeyCursor{page->next_before->created_at.time_since_epoch().count(), page->next_before->order_id}));
    }
    return Reply::of(200, std::move(message));
  });
}

}  // namespace

std::string encode_cursor(std::int64_t position) {
  std::string text = base64_encode("p:" + std::to_string(position));
  while (!text.empty() && text.back() == '=') text.pop_back();
  return text;
}

std::optional<std::int64_t> decode_cursor(const std::string& cursor) {
  std::string padded = cursor;
  while (padded.size() % 4 != 0) padded += '=';
  const auto decoded = base64_decode(padded);
  if (!decoded || decoded->size() < 3 || decoded->compare(0, 2, "p:") != 0) return std::nullopt;
  std::int64_t position = 0;
  const char* begin = decoded->data() + 2;
  const char* end = decoded->data() + decoded->size();
  const auto [stop, error] = std::from_chars(begin, end, position);
  if (error != std::errc{} || stop != end || position <= 0) return std::nullopt;
  return position;
}

std::string encode_cursor(const KeyCursor& key) {
  std::string text = base64_encode("k:" + std::to_string(key.number) + ":" + key.text);
  while (!text.empty() && text.back() == '=') text.pop_back();
  for (char& c : text) c = c == '+' ? '-' : c == '/' ? '_' : c;
  return text;
}

std::optional<KeyCursor> decode_key_cursor(const std::string& cursor) {
  std::string padded = cursor;
  for (char& c : padded) {
    if (c == '+' || c == '/') return std::nullopt;  // not ours: ours are URL-safe
    c = c == '-' ? '+' : c == '_' ? '/' : c;
  }
  while (padded.size() % 4 != 0) padded += '=';
  const auto decoded = base64_decode(padded);
  if (!decoded || decoded->size() < 4 || decoded->compare(0, 2, "k:") != 0) return std::nullopt;
  const auto colon = decoded->find(':', 2);
  if (colon == std::string::npos) return std::nullopt;
  KeyCursor key;
  const char* begin = decoded->data() + 2;
  const char* end = decoded->data() + colon;
  const auto [stop, error] = std::from_chars(begin, end, key.number);
  if (error != std::errc{} || stop != end) return std::nullopt;
  key.text = decoded->substr(colon + 1);
  // The text goes to SQL: it must be text PostgreSQL takes, and no longer than any id.
  if (!is_clean_text(key.text) || key.text.size() > cursor_text_bytes_max) return std::nullopt;
  return key;
}

void add_member_routes(Router& router, Service& service) {
  using http::verb;
  router.add(verb::post, "/v1/members", {Role::admin},
             [&service](RequestContext& c) { return create_member(service, c); });
  router.add(verb::get, "/v1/members", {Role::admin, Role::mall},
             [&service](RequestContext& c) { return find_members(service, c); });
  router.add(verb::get, "/v1/members/{member_id}", {Role::admin, Role::mall},
             [&service](RequestContext& c) { return get_member(service, c); });
  router.add(verb::get, "/v1/members/{member_id}/balances", {Role::admin, Role::mall},
             [&service](RequestContext& c) { return get_balances(service, c); });
  router.add(verb::get, "/v1/members/{member_id}/entries", {Role::admin, Role::mall, Role::finance},
             [&service](RequestContext& c) { return list_entries(service, c); });
  router.add(verb::get, "/v1/members/{member_id}/lots", {Role::admin, Role::mall},
             [&service](RequestContext& c) { return list_lots(service, c); });
  router.add(verb::get, "/v1/members/{member_id}/holds", {Role::admin, Role::mall},
             [&service](RequestContext& c) { return list_holds(service, c); });
  router.add(verb::get, "/v1/members/{member_id}/orders", {Role::admin, Role::mall},
             [&service](RequestContext& c) { return list_orders(service, c); });
}

}  // namespace loyalty::api
