// Partner requests: verification of their signatures and the signing of our responses.
// The contract's signing string and algorithms live in partners/request_signing.hpp.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <optional>

#include "api/context.hpp"
#include "api/reply.hpp"

namespace loyalty::api {

class Service;

// Verifies a partner's signed request (keys, timestamp window, nonce replay, signature over
// the raw body); sets context.partner, or returns the problem to answer (401).
boost::asio::awaitable<std::optional<Reply>> authenticate_partner(Service& service, RequestContext& context);

// Signs a response to a partner over its exact body bytes: X-Signature, X-Key-Id.
void sign_partner_response(Service& service, const RequestContext& context, HttpResponse& response);

}  // namespace loyalty::api
