#include "partners/request_signing.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

#include "platform/digest.hpp"
#include "platform/ed25519.hpp"
#include "platform/text.hpp"

namespace loyalty::partners {
namespace {

std::string percent_encode(std::string_view text) {
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                            c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += digits[c >> 4];
      out += digits[c & 0xF];
    }
  }
  return out;
}

using DigestContext = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

}  // namespace

std::string canonical_query(std::string_view raw_query) {
  std::vector<std::pair<std::string, std::string>> pairs;
  while (!raw_query.empty()) {
    const auto amp = raw_query.find('&');
    const auto pair = raw_query.substr(0, amp);
    if (!pair.empty()) {
      const auto eq = pair.find('=');
      // RFC 3986: '+' is a literal plus (canonically "%2B"), not a space as in form encoding.
      pairs.emplace_back(percent_decode(pair.substr(0, eq), Plus::literal),
                         eq == std::string_view::npos ? "" : percent_decode(pair.substr(eq + 1), Plus::literal));
    }
    if (amp == std::string_view::npos) break;
    raw_query.remove_prefix(amp + 1);
  }
  std::sort(pairs.begin(), pairs.end());
  std::string out;
  for (const auto& [key, value] : pairs) {
    if (!out.empty()) out += '&';
    out += percent_encode(key) + "=" + percent_encode(value);
  }
  return out;
}

std::string signing_string(const RequestToSign& request) {
  std::string out;
  out.append(request.method).append("\n");
  out.append(request.path).append("\n");
  out.append(canonical_query(request.raw_query)).append("\n");
  out.append(request.timestamp).append("\n");
  out.append(request.nonce).append("\n");
  out.append(to_hex(sha256(request.body)));
  return out;
}

std::string hmac_sha256(std::string_view key, std::string_view message) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(message.data()),
       message.size(), mac, &length);
  return std::string(reinterpret_cast<char*>(mac), length);
}

bool verify_hmac_sha256(std::string_view key, std::string_view message, std::string_view signature_base64) {
  const auto signature = base64_decode(signature_base64);
  if (!signature) return false;
  return constant_time_equal(hmac_sha256(key, message), *signature);
}

bool verify_ed25519(std::string_view public_key_pem, std::string_view message, std::string_view signature_base64) {
  const auto signature = base64_decode(signature_base64);
  if (!signature || signature->size() != 64) return false;
  const Ed25519Key key = read_ed25519_public_key(public_key_pem);
  if (!key) return false;
  DigestContext context{EVP_MD_CTX_new(), &EVP_MD_CTX_free};
  if (!context || EVP_DigestVerifyInit(context.get(), nullptr, nullptr, nullptr, key.get()) != 1) return false;
  return EVP_DigestVerify(context.get(), reinterpret_cast<const unsigned char*>(signature->data()), signature->size(),
                          reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
}

std::optional<std::string> sign_ed25519(std::string_view private_key_pem, std::string_view message) {
  const Ed25519Key key = read_ed25519_private_key(private_key_pem);
  if (!key) return std::nullopt;
  return sign_with_key(key.get(), message);
}

}  // namespace loyalty::partners
