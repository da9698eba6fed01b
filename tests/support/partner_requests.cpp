#include "tests/support/partner_requests.hpp"

#include <gtest/gtest.h>

#include <chrono>

#include "partners/request_signing.hpp"
#include "partners/signing_keys.hpp"
#include "platform/digest.hpp"
#include "platform/ids.hpp"

namespace loyalty::testing {

HttpResult signed_partner_request(HttpClient& client, const PartnerKey& key, const std::string& method,
                                  const std::string& target, const std::string& body, const Signing& signing) {
  const auto question = target.find('?');
  const std::string path = target.substr(0, question);
  const std::string query = question == std::string::npos ? "" : target.substr(question + 1);
  const std::string timestamp = std::to_string(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count() +
      signing.clock_skew_seconds);
  const std::string nonce = signing.nonce.value_or(new_id("nonce_"));
  const std::string message = partners::signing_string({method, path, query, timestamp, nonce, body});
  const std::string signature = key.algorithm == "hmac-sha256"
                                    ? base64_encode(partners::hmac_sha256(key.secret, message))
                                    : *partners::sign_ed25519(key.private_pem, message);
  std::map<std::string, std::string> headers{{"X-Partner-Id", key.partner_id},
                                             {"X-Key-Id", key.key_id},
                                             {"X-Timestamp", timestamp},
                                             {"X-Nonce", nonce},
                                             {"X-Signature", signature}};
  if (!body.empty()) headers["Content-Type"] = "application/json";
  for (const auto& [name, value] : signing.extra_headers) headers[name] = value;
  return client.request(method, target, signing.body_sent.value_or(body), headers);
}

HttpResult confirm_partner_link(HttpClient& client, const PartnerKey& key, const std::string& ref,
                                const std::string& link_code, const Signing& signing) {
  return signed_partner_request(client, key, "POST", "/partner/v1/links/confirm",
                                nlohmann::json{{"partner_member_ref", ref}, {"link_code", link_code}}.dump(), signing);
}

HttpResult link_and_confirm(HttpClient& client, const std::string& bearer_secret, const PartnerKey& key,
                            const std::string& member_id, const std::string& ref) {
  const auto linked =
      client.request("POST", "/v1/members/" + member_id + "/partner-links",
                     nlohmann::json{{"partner_id", key.partner_id}, {"partner_member_ref", ref}}.dump(),
                     {{"Authorization", "Bearer " + bearer_secret}, {"Content-Type", "application/json"}});
  EXPECT_EQ(linked.status, 201) << linked.body;
  EXPECT_EQ(linked.json().value("status", ""), "pending") << linked.body;
  const auto confirmed = confirm_partner_link(client, key, ref, linked.json().value("link_code", ""));
  EXPECT_EQ(confirmed.status, 200) << confirmed.body;
  EXPECT_EQ(confirmed.json().value("status", ""), "confirmed") << confirmed.body;
  return confirmed;
}

}  // namespace loyalty::testing
