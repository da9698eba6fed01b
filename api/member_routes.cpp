// POST /v1/members, GET /v1/members/{member_id}, .../balances, .../entries
#include <boost/asio/awaitable.hpp>

#include <charconv>

#include "api/limits.hpp"
#include "api/routes.hpp"
#include "api/service.hpp"
#include "ledger/digest.hpp"
#include "ledger/executor.hpp"
#include "ledger/members.hpp"
#include "membership/tiers.hpp"

namespace loyalty::api {
namespace asio = boost::asio;
namespace {

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
    v1::Member message = member_message(member.value());
    fill_balances(*message.mutable_balances(), ledger::read_balances(txn, member_id, context.received_at).value());
    if (const auto program = service.program(txn)) {
      for (const auto& [track, level] : membership::current_levels(txn, program->program, member_id)) {
        (*message.mutable_tiers())[track].set_level(level);
      }
    }
    return Reply::of(200, std::move(message));
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

void add_member_routes(Router& router, Service& service) {
  using http::verb;
  router.add(verb::post, "/v1/members", {Role::admin},
             [&service](RequestContext& c) { return create_member(service, c); });
  router.add(verb::get, "/v1/members/{member_id}", {Role::admin, Role::mall},
             [&service](RequestContext& c) { return get_member(service, c); });
  router.add(verb::get, "/v1/members/{member_id}/balances", {Role::admin, Role::mall},
             [&service](RequestContext& c) { return get_balances(service, c); });
  router.add(verb::get, "/v1/members/{member_id}/entries", {Role::admin, Role::mall, Role::finance},
             [&service](RequestContext& c) { return list_entries(service, c); });
}

}  // namespace loyalty::api
