#include "api/partner_auth.hpp"

namespace loyalty::api {

boost::asio::awaitable<std::optional<Reply>> authenticate_partner(Service&, RequestContext&) {
  // Partner keys are not registered yet: every signed request is refused.
  co_return problem(401, "unknown_key", "no partner key is registered");
}

void sign_partner_response(Service&, const RequestContext&, HttpResponse&) {}

}  // namespace loyalty::api
