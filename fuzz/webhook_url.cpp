// Webhook endpoint URLs (outbox/delivery.cpp): what parse_url accepts has a host, a port in
// range and a target starting with "/", and is accepted again when written back; url_problem
// answers for anything.
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/fuzz_check.hpp"
#include "outbox/delivery.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto url = loyalty::outbox::parse_url(text);
  if (url) {
    FUZZ_CHECK(!url->host.empty());
    FUZZ_CHECK(url->scheme == "http" || url->scheme == "https");
    FUZZ_CHECK(!url->port.empty() && std::stoi(url->port) >= 1 && std::stoi(url->port) <= 65535);
    FUZZ_CHECK(!url->target.empty() && url->target.front() == '/');
    const std::string host = url->host.find(':') != std::string::npos ? "[" + url->host + "]" : url->host;
    const auto again = loyalty::outbox::parse_url(url->scheme + "://" + host + ":" + url->port + url->target);
    FUZZ_CHECK(again && again->host == url->host && again->port == url->port && again->target == url->target);
  }
  (void)loyalty::outbox::url_problem(text, {});
  loyalty::outbox::UrlPolicy allow_http;
  allow_http.allow_plain_http = true;
  (void)loyalty::outbox::url_problem(text, allow_http);
  return 0;
}
