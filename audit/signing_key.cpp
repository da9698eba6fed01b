#include "audit/signing_key.hpp"

#include "ledger/ed25519.hpp"

namespace loyalty::audit {

std::optional<std::string> public_key_pem_of(std::string_view private_key_pem) {
  const Ed25519Key key = read_ed25519_private_key(private_key_pem);
  if (!key) return std::nullopt;
  return public_pem_of_key(key.get());
}

std::optional<std::string> key_id_of(std::string_view public_key_pem) {
  const Ed25519Key key = read_ed25519_public_key(public_key_pem);
  if (!key) return std::nullopt;
  return signing_key_id_of_key(key.get());
}

}  // namespace loyalty::audit
