// Partner request signing: the canonical string and both algorithms, checked against
// values computed independently with stock OpenSSL (docs/API.md publishes the same vectors).
#include <gtest/gtest.h>

#include "partners/request_signing.hpp"
#include "platform/digest.hpp"
#include "platform/text.hpp"

namespace loyalty::partners {
namespace {

TEST(RequestSigning, TheCanonicalQuerySortsDecodesAndReencodes) {
  EXPECT_EQ(canonical_query(""), "");
  EXPECT_EQ(canonical_query("b=2&a=1&a=0"), "a=0&a=1&b=2");
  // RFC 3986: "%20" is a space, a '+' is a literal plus (not a space, as in form encoding).
  EXPECT_EQ(canonical_query("date=2026-11-22&note=a%20b+c"), "date=2026-11-22&note=a%20b%2Bc");
  EXPECT_EQ(canonical_query("note=a+b"), canonical_query("note=a%2Bb"));
  EXPECT_NE(canonical_query("note=a+b"), canonical_query("note=a%20b"));
  EXPECT_EQ(canonical_query("a+b=1"), "a%2Bb=1");
  EXPECT_EQ(canonical_query("k=%7e%2F"), "k=~%2F");
}

TEST(RequestSigning, PercentDecodingTreatsPlusAsTheCallerAsks) {
  EXPECT_EQ(percent_decode("a+b%2Bc%20d"), "a b+c d");  // the API's own query parameters
  EXPECT_EQ(percent_decode("a+b%2Bc%20d", Plus::space), "a b+c d");
  EXPECT_EQ(percent_decode("a+b%2Bc%20d", Plus::literal), "a+b+c d");  // RFC 3986
  EXPECT_EQ(percent_decode("100%", Plus::literal), "100%");
}

TEST(RequestSigning, TheSigningStringJoinsTheSixPartsWithNewlines) {
  const RequestToSign request{"POST", "/partner/v1/exchanges", "", "1795334400", "nonce-0123456789ab", "{}"};
  EXPECT_EQ(signing_string(request),
            "POST\n/partner/v1/exchanges\n\n1795334400\nnonce-0123456789ab\n"
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
}

TEST(RequestSigning, HmacSignaturesVerifyOnlyForTheRightKeyAndMessage) {
  const std::string key(32, '\x01');
  const std::string message = "POST\n/p\n\n1\nn\nabc";
  const std::string signature = base64_encode(hmac_sha256(key, message));
  EXPECT_TRUE(verify_hmac_sha256(key, message, signature));
  EXPECT_FALSE(verify_hmac_sha256(key, message + "x", signature));
  EXPECT_FALSE(verify_hmac_sha256(std::string(32, '\x02'), message, signature));
  EXPECT_FALSE(verify_hmac_sha256(key, message, "not base64!"));
  // HMAC-SHA256(key = 32 bytes of 0x01, "hello"), from `openssl mac`.
  EXPECT_EQ(to_hex(hmac_sha256(key, "hello")), "3a4d75699f355339725ecf666241ddd9c5ca105542c40a7f5607efc7ece5f67e");
}

TEST(RequestSigning, Ed25519SignaturesVerifyWithThePublicKey) {
  // RFC 8032 test 1's key, as PEM.
  const std::string private_pem =
      "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n-----END PRIVATE "
      "KEY-----\n";
  const std::string public_pem =
      "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n-----END PUBLIC "
      "KEY-----\n";
  const auto signature = sign_ed25519(private_pem, "");
  ASSERT_TRUE(signature);
  // RFC 8032, test 1: the signature of the empty message.
  EXPECT_EQ(to_hex(*base64_decode(*signature)),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f059"
            "5bbe24655141438e7a100b");
  EXPECT_TRUE(verify_ed25519(public_pem, "", *signature));
  EXPECT_FALSE(verify_ed25519(public_pem, "x", *signature));
  EXPECT_FALSE(verify_ed25519("not a key", "", *signature));
}

}  // namespace
}  // namespace loyalty::partners
