// The webhook signature against the test vector published in docs/api/webhooks.md (so the
// page cannot drift from the code), retry delays, and the URL policy's answers for the
// addresses an endpoint must never reach.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "outbox/delivery.hpp"
#include "outbox/dispatcher.hpp"

namespace loyalty::outbox {
namespace {

constexpr const char* vector_key =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIAGdHMCcqCYajHENOtvqysyh3dc/ZJRtv85gSr1E61w7\n"
    "-----END PRIVATE KEY-----\n";
constexpr const char* vector_body =
    R"({"type":"member.tier_changed","timestamp":"2027-01-15T08:30:00Z","data":{"member_id":"mem_3k9x2m7q1v8p4r6t0w5y",)"
    R"("track":"spend","from_level":"member","to_level":"silver","reason":"upgrade","qualifying_value":600000,)"
    R"("event_id":"evt-2027-0001","changed_at":"2027-01-15T08:30:00Z"}})";

TEST(WebhookDelivery, SignsTheDocumentedTestVector) {
  const auto at = std::chrono::system_clock::time_point{std::chrono::seconds{1800001805}};
  const auto signed_delivery = sign_delivery(SigningKey::from_pem(vector_key), "evt_1042", at, vector_body);
  ASSERT_TRUE(signed_delivery);
  EXPECT_EQ(signed_delivery->webhook_id, "evt_1042");
  EXPECT_EQ(signed_delivery->webhook_timestamp, "1800001805");
  EXPECT_EQ(signed_delivery->webhook_signature,
            "v1a,2zNXSrcwzdhzMEv87bh2NqvwmzNyNb5AgTzXvF7ex5UolYo5dF7LUZRMTfQVbfM1JAk3Hlv726BEOyLPvkd6Cg==");
  EXPECT_EQ(signed_delivery->key_id.substr(0, 3), "sk_");
  EXPECT_FALSE(sign_delivery(SigningKey::from_pem("not a key"), "evt_1", at, "{}"));
}

TEST(WebhookDelivery, RetryDelaysGrowWithJitterAndStopAtTheCeiling) {
  DispatcherOptions options;
  for (int failures = 1; failures <= 40; ++failures) {
    const double expected = std::min(5000.0 * std::pow(2.0, failures - 1), 3600.0 * 1000);
    const auto delay = static_cast<double>(retry_delay(options, failures).count());
    EXPECT_GE(delay, expected * 0.8 - 1) << failures;
    EXPECT_LE(delay, expected * 1.2 + 1) << failures;
  }
}

TEST(WebhookDelivery, UrlPolicyRefusesMetadataLinkLocalAndPlainHttpBeyondLoopback) {
  const UrlPolicy strict;
  for (const char* url : {"http://169.254.169.254/latest",
                          "https://169.254.1.1/",
                          "https://[fe80::1]/",
                          "https://[fd00:ec2::254]/",
                          "https://100.100.100.200/",
                          "https://0.0.0.0/",
                          "https://[::]/",
                          "https://224.0.0.1/",
                          "https://255.255.255.255/",
                          "https://[::ffff:169.254.169.254]/",
                          "http://10.1.2.3/",
                          "http://example.com/",
                          "https://metadata.google.internal/",
                          "https://a@b.example/",
                          "https://example.com/#x",
                          "ftp://example.com/",
                          "https://example.com:0/",
                          "https://example.com:65536/",
                          "https:///x",
                          "https://exa mple.com/",
                          "",
                          "https://[fe80::1%25eth0]/",
                          "https://host_name/"}) {
    EXPECT_TRUE(url_problem(url, strict)) << url;
  }
  for (const char* url : {"https://hooks.example.com/loyalty?x=1", "https://10.1.2.3:8443/h", "http://127.0.0.1:8080/h",
                          "http://[::1]:8080/", "http://localhost/h", "https://[2001:db8::1]/"}) {
    EXPECT_FALSE(url_problem(url, strict)) << url << ": " << url_problem(url, strict).value_or("");
  }
  UrlPolicy allow_http;
  allow_http.allow_plain_http = true;
  EXPECT_FALSE(url_problem("http://10.1.2.3/", allow_http));
  EXPECT_TRUE(url_problem("http://169.254.169.254/", allow_http));

  const auto url = parse_url("https://[2001:db8::1]:8443/a/b?c=d");
  ASSERT_TRUE(url);
  EXPECT_EQ(url->host, "2001:db8::1");
  EXPECT_EQ(url->port, "8443");
  EXPECT_EQ(url->target, "/a/b?c=d");
  EXPECT_EQ(parse_url("https://example.com")->target, "/");
  EXPECT_EQ(parse_url("http://example.com?q")->target, "/?q");
}

}  // namespace
}  // namespace loyalty::outbox
