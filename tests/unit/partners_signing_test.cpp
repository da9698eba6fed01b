// The published partner signing vectors (docs/api/partners.md): the canonical strings, their
// HMAC-SHA256 and Ed25519 signatures, each computed independently with the stock openssl CLI
// (`openssl mac -digest SHA256 -macopt hexkey:...`, `openssl pkeyutl -sign -rawin`).
// Also: our key ids and SigningKey, and reconciliation of a partner's CSV against statement lines.
#include <gtest/gtest.h>

#include <variant>

#include "partners/reconcile.hpp"
#include "partners/request_signing.hpp"
#include "partners/signing_keys.hpp"
#include "platform/digest.hpp"
#include "platform/ed25519.hpp"

namespace loyalty::partners {
namespace {

const std::string vector_hmac_key_base64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";  // bytes 0x00..0x1f
const std::string vector_private_pem =                                                      // RFC 8032, test 1
    "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n-----END PRIVATE "
    "KEY-----\n";
const std::string vector_public_pem =
    "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n-----END PUBLIC "
    "KEY-----\n";
const std::string exchange_body = R"({"exchange_id":"ex-1001","partner_member_ref":"SKY-778899","partner_units":125})";

TEST(PartnerSigningVectors, AnInboundExchangeSignsAsPublished) {
  const std::string message =
      signing_string({"POST", "/partner/v1/exchanges", "", "1795334400", "n0nce-0123456789abcdef", exchange_body});
  EXPECT_EQ(message,
            "POST\n/partner/v1/exchanges\n\n1795334400\nn0nce-0123456789abcdef\n"
            "95c0fdfad87f4994b5f41b0f020a50746abe3c940f0ef9d03be988993794bf80");
  const std::string key = *base64_decode(vector_hmac_key_base64);
  EXPECT_EQ(base64_encode(hmac_sha256(key, message)), "zTk00K8kBF3bOjwUE3caDDPmqoFqXfOgyam/k0X/8GM=");
  const auto signature = sign_ed25519(vector_private_pem, message);
  ASSERT_TRUE(signature);
  EXPECT_EQ(*signature, "hWodSmRQIzIRJBDgQHHliR0GGY0p2wJRg78F6dTkT22Kgn+VZQtoE2qO50VWD8ghr8HeOzvhH7Nk4YLr/UKjAg==");
  EXPECT_TRUE(verify_ed25519(vector_public_pem, message, *signature));
}

TEST(PartnerSigningVectors, AStatementRequestWithAQuerySignsAsPublished) {
  const std::string message =
      signing_string({"GET", "/partner/v1/statements", "date=2026-11-22", "1795334400", "n0nce-fedcba9876543210", ""});
  EXPECT_EQ(message,
            "GET\n/partner/v1/statements\ndate=2026-11-22\n1795334400\nn0nce-fedcba9876543210\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  const std::string key = *base64_decode(vector_hmac_key_base64);
  EXPECT_TRUE(verify_hmac_sha256(key, message, "73gqCGtK2P1cwtC0fEcjpqGpMqMh0Gkti7LEDSpVKW4="));
  EXPECT_TRUE(
      verify_ed25519(vector_public_pem, message,
                     "SuEsla2Li2QvnnpimdHRV4egnaUJ2tyDMlKlhYUHHzd6ksJ/8rUpKZ7nd9pnDTPf9NUHReOAeAltgRAN4AnWCQ=="));
}

TEST(PartnerSigningVectors, APlusInTheQueryIsALiteralPlusAsPublished) {
  // RFC 3986: '+' is not a space; it signs as "%2B", "%20" as a space.
  const std::string message = signing_string(
      {"GET", "/partner/v1/statements", "tag=a+b%20c&date=2026-11-22", "1795334400", "n0nce-0f1e2d3c4b5a6978", ""});
  EXPECT_EQ(message,
            "GET\n/partner/v1/statements\ndate=2026-11-22&tag=a%2Bb%20c\n1795334400\nn0nce-0f1e2d3c4b5a6978\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  // The same query written another way (order, lower-case hex) signs the same.
  EXPECT_EQ(message, signing_string({"GET", "/partner/v1/statements", "date=2026-11-22&tag=a%2bb%20c", "1795334400",
                                     "n0nce-0f1e2d3c4b5a6978", ""}));
  const std::string key = *base64_decode(vector_hmac_key_base64);
  EXPECT_EQ(base64_encode(hmac_sha256(key, message)), "JRkZansFhw+Ln4Wof/sKbsjXFUX9w9i3q4PD5nWwPDY=");
  const auto signature = sign_ed25519(vector_private_pem, message);
  ASSERT_TRUE(signature);
  EXPECT_EQ(*signature, "UVPO5IcSpHtNywCtSV9UGMUgWqQIpQ7UmBd5sIOlFhbtp5uk7epxwkXGzzcSEAYF2Ba0n45y+lG+NItELs9dBQ==");
}

TEST(OurSigningKeys, AKeyIdIsDerivedFromThePublicKeyAndStableAcrossItsForms) {
  const auto public_pem = public_pem_of(vector_private_pem);
  ASSERT_TRUE(public_pem);
  EXPECT_EQ(*public_pem, vector_public_pem);
  const auto from_private = our_key_id(vector_private_pem);
  ASSERT_TRUE(from_private);
  EXPECT_EQ(from_private, signing_key_id_of_public_pem(vector_public_pem));
  EXPECT_EQ(from_private->size(), 19u);  // sk_ + 16 hex digits
  const std::string fresh = generate_ed25519_private_pem();
  EXPECT_NE(our_key_id(fresh), from_private);
  EXPECT_FALSE(our_key_id("not a key"));
  EXPECT_FALSE(is_ed25519_public_key("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"));
}

TEST(OurSigningKeys, ASigningKeyIsReadOnceAndSignsAsThePemDoes) {
  const SigningKey key = SigningKey::from_pem(vector_private_pem);
  ASSERT_TRUE(key);
  EXPECT_EQ(key.key_id(), our_key_id(vector_private_pem));
  EXPECT_EQ(key.public_pem(), vector_public_pem);
  const std::string message = "POST\n/partner/v1/exchanges\n\n1795334400\nn0nce\n";
  const auto signature = key.sign(message);
  ASSERT_TRUE(signature);
  EXPECT_EQ(signature, sign_ed25519(vector_private_pem, message));
  EXPECT_TRUE(verify_ed25519(key.public_pem(), message, *signature));
  const SigningKey copy = key;  // copies share the key
  EXPECT_EQ(copy.sign(message), signature);
  // None configured, or a PEM that is no Ed25519 private key: an empty key, which signs nothing.
  for (const SigningKey& empty : {SigningKey{}, SigningKey::from_pem(""), SigningKey::from_pem("not a key"),
                                  SigningKey::from_pem(vector_public_pem)}) {
    EXPECT_TRUE(empty.empty());
    EXPECT_EQ(empty.key_id(), "");
    EXPECT_EQ(empty.public_pem(), "");
    EXPECT_FALSE(empty.sign(message));
  }
}

TEST(Reconciliation, EveryDifferenceIsListedAndAgreementListsNone) {
  const nlohmann::json ours = nlohmann::json::parse(R"([
    {"kind":"exchange_in","id":"ex-1","partner_member_ref":"R1","points":800,"units":100,"cents":800},
    {"kind":"exchange_out","id":"ex-2","partner_member_ref":"R2","points":20,"units":2,"cents":20},
    {"kind":"claim","id":"c-1","partner_member_ref":"R1","right_code":"upgrade-size"}])");
  const std::string agreeing =
      "kind,id,partner_member_ref,points,units\r\nexchange_in,ex-1,R1,800,100\r\nexchange_out,ex-2,R2,20,2\r\n"
      "claim,c-1,R1,,\r\n";
  const auto none = reconcile(ours, agreeing);
  ASSERT_TRUE(std::holds_alternative<std::vector<Difference>>(none));
  EXPECT_TRUE(std::get<std::vector<Difference>>(none).empty());

  const std::string disagreeing = "kind,id,points\nexchange_in,ex-1,80\n\"claim\",\"c-9\",\n";
  const auto found = reconcile(ours, disagreeing);
  const auto& differences = std::get<std::vector<Difference>>(found);
  ASSERT_EQ(differences.size(), 4u);
  EXPECT_EQ(differences[0].problem, "points: ours 800, theirs 80");
  EXPECT_EQ(differences[1].id, "ex-2");
  EXPECT_EQ(differences[1].problem, "only in ours");
  EXPECT_EQ(differences[2].id, "c-1");
  EXPECT_EQ(differences[3].id, "c-9");
  EXPECT_EQ(differences[3].problem, "only in theirs");
  EXPECT_TRUE(std::holds_alternative<CsvProblem>(reconcile(ours, "id,points\n1,2\n")));
  EXPECT_TRUE(std::holds_alternative<CsvProblem>(reconcile(ours, "kind,id\n\"open")));
}

}  // namespace
}  // namespace loyalty::partners
