// Partner requests: verification of their signatures and the signing of our responses.
// The contract's signing string and algorithms live in partners/request_signing.hpp; keys,
// nonces and the verification itself in partners/keys.hpp.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <optional>
#include <string_view>

#include "api/context.hpp"
#include "api/reply.hpp"
#include "ledger/journal.hpp"
#include "partners/refusal.hpp"

namespace loyalty::api {

class Service;
class Router;

// Verifies a partner's signed request (keys, timestamp window, nonce replay, signature over
// the raw body); sets context.partner, or returns the problem to answer (401).
boost::asio::awaitable<std::optional<Reply>> authenticate_partner(Service& service, RequestContext& context);

// Signs a response to a partner over its exact body bytes: X-Signature, X-Key-Id. Nothing is
// added when the server has no signing key (LOYALTY_SIGNING_KEY).
void sign_partner_response(Service& service, const RequestContext& context, HttpResponse& response);
void sign_partner_response(Service& service, HttpResponse& response);

// Whether a request target (path, with or without its query) is on the partner side,
// /partner/v1/...: every response there is signed, whoever asked and whatever the answer
// (401 refusals, 404, 405, 413, 415, 429 and the open signing-key routes included). Segments
// are compared as the router compares them (empty ones are skipped), so that no path the
// router would serve as a partner route escapes the signature.
bool is_partner_path(std::string_view target);

// The admin side of partners (/v1/partners..., member links, outbound exchanges); called by
// add_partner_routes (api/partner_routes.cpp).
void add_partner_admin_routes(Router& router, Service& service);

// The HTTP answer to a partner refusal; the one place they become status codes.
Reply partner_refusal_reply(partners::Refusal refusal);

// Who wrote, for entries and the audit trail: "partner:skyair (key pkey_...)".
ledger::Origin partner_origin(const RequestContext& context);

}  // namespace loyalty::api
