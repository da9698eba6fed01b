// Sending one webhook: the endpoint's URL and who it may point at, the Standard Webhooks
// headers and signature, and one HTTP(S) POST under a deadline.
//
// Who an endpoint may point at (server-side request forgery): `https://` anywhere public or
// private; `http://` only to a loopback address unless the operator allows plain HTTP; never a
// link-local address (169.254.0.0/16, fe80::/10: cloud metadata services live there), a known
// metadata address (100.100.100.200, fd00:ec2::254), an unspecified, multicast or broadcast
// address. A URL naming such an address is refused when the endpoint is created; a host name is
// checked on every delivery against every address it resolves to, and the connection goes
// only to addresses that passed, so a name that later resolves elsewhere cannot get around it.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "platform/ed25519.hpp"

namespace loyalty::outbox {

struct Url {
  std::string scheme;  // http, https
  std::string host;    // without brackets for IPv6
  std::string port;
  std::string target;  // path and query, "/" at least
};
// Parses an absolute http(s) URL without user information or fragment; nullopt otherwise.
std::optional<Url> parse_url(std::string_view text);

struct UrlPolicy {
  bool allow_plain_http = false;  // http:// to any address the other rules allow
};
// Why the URL may not be an endpoint, or nullopt. Checks what can be checked without
// resolving the host (its form, the scheme, a literal address).
std::optional<std::string> url_problem(std::string_view url, const UrlPolicy& policy);

// The headers of one delivery (Standard Webhooks): `webhook-signature` is "v1a," and the base64
// Ed25519 signature over "<webhook-id>.<webhook-timestamp>.<body>".
struct SignedDelivery {
  std::string webhook_id;         // the event's id, the same on every attempt
  std::string webhook_timestamp;  // unix seconds of this attempt
  std::string webhook_signature;
  std::string key_id;  // X-Key-Id: which of our keys signed
};
// nullopt when there is no signing key (none configured, or not an Ed25519 key).
std::optional<SignedDelivery> sign_delivery(const SigningKey& signing_key, const std::string& webhook_id,
                                            std::chrono::system_clock::time_point at, std::string_view body);

struct PostResult {
  std::optional<int> status;  // the HTTP status, when an answer came
  std::string error;          // why no (acceptable) answer came; empty on 2xx
  int duration_ms = 0;
  bool succeeded() const { return status && *status >= 200 && *status < 300; }
};
// POSTs `body` (application/json) with the delivery's headers; the whole attempt (resolving,
// connecting, TLS, sending, reading the answer's header) must end within `timeout`. Redirects
// are not followed (a 3xx is a failure). https:// checks the peer's certificate and host name
// against the system's trusted roots.
PostResult post_delivery(const Url& url, const SignedDelivery& headers, std::string_view body,
                         std::chrono::milliseconds timeout, const UrlPolicy& policy);

}  // namespace loyalty::outbox
