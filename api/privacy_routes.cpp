// DELETE /v1/members/{member_id}/personal-data (admin): erases the member's name and phone and
// keeps the member and the ledger under the pseudonymous member_id, and clears them from the
// stored answers of idempotency keys too (a replay of the member's creation no longer shows
// them). Audited like every write.
#include <boost/asio/awaitable.hpp>

#include "api/idempotency.hpp"
#include "api/proto/loyalty/v1/finance.pb.h"
#include "api/routes.hpp"
#include "api/service.hpp"
#include "ledger/members.hpp"
#include "platform/executor.hpp"

namespace loyalty::api {
namespace asio = boost::asio;
namespace {

asio::awaitable<Reply> erase_personal_data(Service& service, RequestContext& context) {
  const std::string member_id = context.param("member_id");
  v1::ErasePersonalDataRequest request;
  if (auto bad = parse_body(context, request)) co_return *bad;
  co_return co_await service.write(
      context, db::routing_key_of(member_id), request, false, [&](pqxx::transaction_base& txn) {
        const ledger::Erasure erasure = ledger::erase_member_personal_data(txn, member_id, context.received_at);
        if (erasure.outcome == ledger::ErasureOutcome::member_not_found) {
          return problem(404, "member_not_found", "no member has this id");
        }
        if (erasure.member_created_at) {
          // Stored answers are written in the same transaction as the member, whose creation time
          // comes from this service's clock: a day of margin covers any skew with the database's.
          clear_from_stored_replies(txn, erasure.erased_values, *erasure.member_created_at - std::chrono::hours(24));
        }
        v1::PersonalDataErasure message;
        message.set_member_id(member_id);
        for (const auto& field : erasure.fields) message.add_erased_fields(field);
        if (erasure.erased_at) message.set_erased_at(format_rfc3339(*erasure.erased_at));
        return Reply::of(200, std::move(message));
      });
}

}  // namespace

void add_privacy_routes(Router& router, Service& service) {
  router.add(http::verb::delete_, "/v1/members/{member_id}/personal-data", {Role::admin},
             [&service](RequestContext& c) { return erase_personal_data(service, c); });
}

}  // namespace loyalty::api
