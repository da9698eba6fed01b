// loyaltyctl signing-key init [--out PATH] [--json]: makes our Ed25519 signing key, writes it
// where LOYALTY_SIGNING_KEY points (the PEM loyaltyd reads) unless --out says elsewhere, never
// over an existing file, and registers its public half in the database, so that
// GET /partner/v1/signing-keys serves it beside the keys it rotates out.
// loyaltyctl signing-key retire KEY_ID [--json]: takes an old key off that list once loyaltyd
// signs with its successor (its PEM stays fetchable by id, for old signatures).
#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "audit/audit_log.hpp"
#include "partners/signing_keys.hpp"
#include "platform/database.hpp"
#include "tools/flags.hpp"

namespace loyalty::tools {
namespace {

bool write_private_key(const std::string& path, const std::string& pem) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0) return false;
  const bool written = ::write(fd, pem.data(), pem.size()) == static_cast<ssize_t>(pem.size());
  return ::close(fd) == 0 && written;
}

audit::AuditRecord operator_record(const std::string& action, const std::string& key_id) {
  audit::AuditRecord record;
  record.actor_kind = "operator";
  const char* user = std::getenv("USER");
  record.actor_id = std::string("operator:") + (user ? user : "unknown");
  record.action = action;
  record.subject = key_id;
  return record;
}

}  // namespace

int signing_key_retire(const Flags& flags) {
  const std::string url = flags.value("database-url");
  const std::string key_id = flags.positionals().front();
  partners::RetireOutcome outcome{};
  try {
    auto connection = db::connect(url);
    outcome = db::run_transaction(*connection, "signing_key_retire", [&](pqxx::transaction_base& txn) {
      const auto result = partners::retire_signing_key(txn, key_id, now_utc());
      if (result == partners::RetireOutcome::retired) audit::record(txn, operator_record("signing_key.retire", key_id));
      return result;
    });
  } catch (const std::exception& error) {
    std::fprintf(stderr, "loyaltyctl: %s\n", error.what());
    return 1;
  }
  const char* status = outcome == partners::RetireOutcome::retired           ? "retired"
                       : outcome == partners::RetireOutcome::already_retired ? "already_retired"
                                                                             : "unknown";
  if (flags.on("json")) {
    std::printf("%s\n", nlohmann::json{{"key_id", key_id}, {"status", status}}.dump().c_str());
  } else if (outcome == partners::RetireOutcome::unknown) {
    std::fprintf(stderr, "loyaltyctl: no registered signing key has the id %s\n", key_id.c_str());
  } else {
    std::printf("%s %s\n", key_id.c_str(), status);
  }
  return outcome == partners::RetireOutcome::unknown ? 1 : 0;
}

int signing_key_init(const Flags& flags) {
  const std::string path = flags.value("out");
  if (path.empty()) {
    std::fprintf(stderr,
                 "loyaltyctl: signing-key init: set LOYALTY_SIGNING_KEY to where the key goes, or pass --out PATH\n");
    return 2;
  }
  const std::string private_pem = partners::generate_ed25519_private_pem();
  const std::string public_pem = *partners::public_pem_of(private_pem);
  const std::string key_id = *partners::our_key_id(private_pem);
  if (!write_private_key(path, private_pem)) {
    const int error = errno;
    std::fprintf(stderr, "loyaltyctl: cannot create %s: %s%s\n", path.c_str(), std::strerror(error),
                 error == EEXIST ? " (a key is never overwritten: retire it, or choose another --out)" : "");
    return 1;
  }
  bool registered = false;
  if (const std::string url = flags.value("database-url"); !url.empty()) {
    try {
      auto connection = db::connect(url);
      db::run_transaction(*connection, "signing_key_register", [&](pqxx::transaction_base& txn) {
        partners::register_signing_key(txn, public_pem);
        audit::record(txn, operator_record("signing_key.create", key_id));
        return 0;
      });
      registered = true;
    } catch (const std::exception& error) {
      std::fprintf(stderr, "loyaltyctl: the key was written but not registered: %s\n", error.what());
      return 1;
    }
  }
  if (flags.on("json")) {
    std::printf(
        "%s\n",
        nlohmann::json{{"key_id", key_id}, {"path", path}, {"public_key_pem", public_pem}, {"registered", registered}}
            .dump()
            .c_str());
  } else {
    std::printf("key_id      %s\nprivate key %s (set LOYALTY_SIGNING_KEY=%s for loyaltyd)\nregistered  %s\n%s",
                key_id.c_str(), path.c_str(), path.c_str(),
                registered ? "yes" : "no (set LOYALTY_DATABASE_URL to register the public key)", public_pem.c_str());
  }
  return 0;
}

}  // namespace loyalty::tools
