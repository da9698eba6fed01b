#include "outbox/delivery.hpp"

#include <openssl/ssl.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <algorithm>
#include <cctype>
#include <exception>
#include <stdexcept>
#include <vector>

#include "platform/ed25519.hpp"

namespace loyalty::outbox {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

bool is_loopback(const asio::ip::address& address) {
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    return is_loopback(asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6()));
  }
  return address.is_loopback();
}

// Addresses no endpoint may reach, whatever the scheme.
bool is_forbidden(const asio::ip::address& address) {
  if (address.is_v6()) {
    const auto v6 = address.to_v6();
    if (v6.is_v4_mapped()) return is_forbidden(asio::ip::make_address_v4(asio::ip::v4_mapped, v6));
    if (v6.is_unspecified() || v6.is_multicast() || v6.is_link_local()) return true;
    return v6 == asio::ip::make_address_v6("fd00:ec2::254");
  }
  const auto v4 = address.to_v4();
  const auto bytes = v4.to_bytes();
  if (v4.is_unspecified() || v4.is_multicast() || v4 == asio::ip::address_v4::broadcast()) return true;
  if (bytes[0] == 169 && bytes[1] == 254) return true;  // link-local: 169.254.169.254 and kin
  if (bytes[0] == 0) return true;                       // "this network"
  return v4 == asio::ip::make_address_v4("100.100.100.200");
}

// Why an endpoint may not be sent to at this address, or "".
std::string address_problem(const asio::ip::address& address, const Url& url, const UrlPolicy& policy) {
  if (is_forbidden(address)) return "the address " + address.to_string() + " is link-local, metadata or not routable";
  if (url.scheme == "http" && !policy.allow_plain_http && !is_loopback(address)) {
    return "http:// is allowed only to a loopback address (use https://)";
  }
  return "";
}

int elapsed_ms(std::chrono::steady_clock::time_point since) {
  return static_cast<int>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - since).count());
}

// Sends the request and reads the answer's status line and header; the body is not read
// (its status says everything). Every step runs under the attempt's deadline: Beast's timeouts
// apply to asynchronous operations only, so the attempt runs as a coroutine on its own context.
template <typename Stream>
asio::awaitable<int> exchange(Stream& stream, beast::tcp_stream& socket, const Url& url, const SignedDelivery& headers,
                              std::string_view body, std::chrono::steady_clock::time_point deadline) {
  http::request<http::string_body> request{http::verb::post, url.target, 11};
  const bool default_port = (url.scheme == "https" && url.port == "443") || (url.scheme == "http" && url.port == "80");
  const std::string host = url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
  request.set(http::field::host, default_port ? host : host + ":" + url.port);
  request.set(http::field::user_agent, "loyalty-ledger-webhooks/1");
  request.set(http::field::content_type, "application/json");
  request.set(http::field::connection, "close");
  request.set("webhook-id", headers.webhook_id);
  request.set("webhook-timestamp", headers.webhook_timestamp);
  request.set("webhook-signature", headers.webhook_signature);
  request.set("X-Key-Id", headers.key_id);
  request.body() = std::string(body);
  request.prepare_payload();
  socket.expires_at(deadline);
  co_await http::async_write(stream, request, asio::use_awaitable);
  beast::flat_buffer buffer;
  http::response_parser<http::empty_body> parser;
  parser.skip(true);
  socket.expires_at(deadline);
  co_await http::async_read_header(stream, buffer, parser, asio::use_awaitable);
  co_return static_cast<int>(parser.get().result_int());
}

asio::awaitable<int> attempt(asio::io_context& io, const Url& url, const std::vector<tcp::endpoint>& allowed,
                             const SignedDelivery& headers, std::string_view body,
                             std::chrono::steady_clock::time_point deadline) {
  if (url.scheme == "https") {
    asio::ssl::context tls{asio::ssl::context::tls_client};
    tls.set_default_verify_paths();
    tls.set_verify_mode(asio::ssl::verify_peer);
    beast::ssl_stream<beast::tcp_stream> stream{io, tls};
    if (!SSL_set_tlsext_host_name(stream.native_handle(), url.host.c_str())) {
      throw std::runtime_error("the TLS library refused the host name " + url.host);
    }
    stream.set_verify_callback(asio::ssl::host_name_verification(url.host));
    beast::tcp_stream& socket = beast::get_lowest_layer(stream);
    socket.expires_at(deadline);
    co_await socket.async_connect(allowed, asio::use_awaitable);
    socket.expires_at(deadline);
    co_await stream.async_handshake(asio::ssl::stream_base::client, asio::use_awaitable);
    const int status = co_await exchange(stream, socket, url, headers, body, deadline);
    co_return status;
  }
  beast::tcp_stream stream{io};
  stream.expires_at(deadline);
  co_await stream.async_connect(allowed, asio::use_awaitable);
  const int status = co_await exchange(stream, stream, url, headers, body, deadline);
  co_return status;
}

}  // namespace

std::optional<Url> parse_url(std::string_view text) {
  Url url;
  std::size_t at = 0;
  if (text.substr(0, 8) == "https://") {
    url.scheme = "https";
    at = 8;
  } else if (text.substr(0, 7) == "http://") {
    url.scheme = "http";
    at = 7;
  } else {
    return std::nullopt;
  }
  for (const char c : text) {
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f || c == '#') return std::nullopt;
  }
  const std::size_t end_of_authority = std::min(text.find('/', at), text.find('?', at));
  const std::string_view authority = text.substr(at, end_of_authority - at);
  if (authority.empty() || authority.find('@') != std::string_view::npos) return std::nullopt;
  std::string_view port;
  if (authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    url.host = std::string(authority.substr(1, close - 1));
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return std::nullopt;
      port = authority.substr(close + 2);
    }
  } else {
    const auto colon = authority.find(':');
    url.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (url.host.empty()) return std::nullopt;
  if (!port.empty()) {
    if (port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return std::nullopt;
    }
    const int number = std::stoi(std::string(port));
    if (number < 1 || number > 65535) return std::nullopt;
    url.port = std::string(port);
  } else {
    url.port = url.scheme == "https" ? "443" : "80";
  }
  url.target = end_of_authority == std::string_view::npos ? "/" : std::string(text.substr(end_of_authority));
  if (url.target.front() == '?') url.target = "/" + url.target;
  return url;
}

std::optional<std::string> url_problem(std::string_view text, const UrlPolicy& policy) {
  const auto url = parse_url(text);
  if (!url) return "not an absolute http:// or https:// URL (no user information, no fragment)";
  boost::system::error_code error;
  const auto address = asio::ip::make_address(url->host, error);
  if (!error) {
    if (auto problem = address_problem(address, *url, policy); !problem.empty()) return problem;
    return std::nullopt;
  }
  // Not an address: a host name of letters, digits, '-' and '.' (IPv6 literals must parse).
  const bool name_like = std::all_of(url->host.begin(), url->host.end(),
                                     [](unsigned char c) { return std::isalnum(c) || c == '-' || c == '.'; });
  if (!name_like) return "the host is neither an IP address nor a host name";
  std::string host = url->host;
  std::transform(host.begin(), host.end(), host.begin(), [](unsigned char c) { return std::tolower(c); });
  if (url->scheme == "http" && !policy.allow_plain_http && host != "localhost") {
    return "http:// is allowed only to a loopback address (use https://)";
  }
  if (host == "metadata.google.internal" || host == "metadata") return "the host is a cloud metadata service";
  return std::nullopt;
}

std::optional<SignedDelivery> sign_delivery(const SigningKey& signing_key, const std::string& webhook_id,
                                            std::chrono::system_clock::time_point at, std::string_view body) {
  const std::string timestamp =
      std::to_string(std::chrono::duration_cast<std::chrono::seconds>(at.time_since_epoch()).count());
  std::string content = webhook_id;
  content += '.';
  content += timestamp;
  content += '.';
  content += body;
  const auto signature = signing_key.sign(content);
  if (!signature) return std::nullopt;
  return SignedDelivery{webhook_id, timestamp, "v1a," + *signature, signing_key.key_id()};
}

PostResult post_delivery(const Url& url, const SignedDelivery& headers, std::string_view body,
                         std::chrono::milliseconds timeout, const UrlPolicy& policy) {
  const auto started = std::chrono::steady_clock::now();
  const auto deadline = started + timeout;
  PostResult result;
  try {
    asio::io_context io;
    tcp::resolver resolver{io};
    // Resolving has no deadline of its own in Asio's synchronous API; the system resolver's
    // timeouts bound it, and the attempt's time counts it.
    const auto resolved = resolver.resolve(url.host, url.port);
    std::vector<tcp::endpoint> allowed;
    std::string refused;
    for (const auto& entry : resolved) {
      const std::string problem = address_problem(entry.endpoint().address(), url, policy);
      if (problem.empty()) {
        allowed.push_back(entry.endpoint());
      } else if (refused.empty()) {
        refused = problem;
      }
    }
    // One forbidden address is enough to refuse: a name that resolves to both is not trusted.
    if (!refused.empty() || allowed.empty()) {
      result.error = refused.empty() ? "the host resolved to no address" : refused;
      result.duration_ms = elapsed_ms(started);
      return result;
    }
    std::exception_ptr failure;
    asio::co_spawn(io, attempt(io, url, allowed, headers, body, deadline), [&](std::exception_ptr error, int status) {
      if (error) {
        failure = error;
      } else {
        result.status = status;
      }
    });
    io.run();
    if (failure) std::rethrow_exception(failure);
    if (!result.succeeded()) result.error = "answered " + std::to_string(*result.status);
  } catch (const beast::system_error& error) {
    result.error = error.code() == beast::error::timeout ? "no answer within " + std::to_string(timeout.count()) + " ms"
                                                         : error.code().message();
  } catch (const std::exception& error) {
    result.error = error.what();
  }
  result.duration_ms = elapsed_ms(started);
  return result;
}

}  // namespace loyalty::outbox
