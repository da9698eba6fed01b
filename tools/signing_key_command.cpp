// loyaltyctl signing-key init [--out PATH] [--json]: makes our Ed25519 signing key (the PEM
// loyaltyd reads from LOYALTY_SIGNING_KEY) and registers its public half in the database, so
// that GET /partner/v1/signing-keys serves it beside the keys it rotates out.
// loyaltyctl signing-key retire KEY_ID [--json]: takes an old key off that list once loyaltyd
// signs with its successor (its PEM stays fetchable by id, for old signatures).
#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <string>

#include "audit/audit_log.hpp"
#include "ledger/database.hpp"
#include "partners/signing_keys.hpp"
#include "tools/flags.hpp"

namespace loyalty::tools {
namespace {

const std::vector<FlagSpec> signing_key_flags = {
    {"database-url", "LOYALTY_DATABASE_URL", "", "libpq URI of the database (registers the public key)"},
    {"out", "", "loyalty-signing-key.pem", "where to write the private key (PEM, mode 0600; never overwritten)"},
    {"json", "", "", "print one JSON object on stdout", true},
    {"help", "", "", "show this help", true},
};

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

int retire(const Flags& flags) {
  const std::string url = flags.value("database-url");
  if (url.empty()) {
    std::fprintf(stderr, "loyaltyctl: set LOYALTY_DATABASE_URL (or --database-url)\n");
    return 2;
  }
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

}  // namespace

int signing_key_command(int argc, char** argv) {
  Flags flags;
  if (const auto error = flags.parse(signing_key_flags, argc, argv, 3)) {
    std::fprintf(stderr, "loyaltyctl: %s\n", error->c_str());
    return 2;
  }
  const std::string sub = argc >= 3 ? argv[2] : "";
  const bool usable = (sub == "init" && flags.positionals().empty()) || (sub == "retire" && flags.positionals().size() == 1);
  if (flags.on("help") || !usable) {
    std::printf("loyaltyctl signing-key init [--out PATH] [--json]\n"
                "loyaltyctl signing-key retire KEY_ID [--json]\n%s",
                Flags::help(signing_key_flags).c_str());
    return flags.on("help") ? 0 : 2;
  }
  if (sub == "retire") return retire(flags);
  const std::string path = flags.value("out");
  const std::string private_pem = partners::generate_ed25519_private_pem();
  const std::string public_pem = *partners::public_pem_of(private_pem);
  const std::string key_id = *partners::our_key_id(private_pem);
  if (!write_private_key(path, private_pem)) {
    std::fprintf(stderr, "loyaltyctl: cannot create %s (it must not exist yet)\n", path.c_str());
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
    std::printf("%s\n", nlohmann::json{{"key_id", key_id}, {"path", path}, {"public_key_pem", public_pem},
                                       {"registered", registered}}.dump().c_str());
  } else {
    std::printf("key_id      %s\nprivate key %s (set LOYALTY_SIGNING_KEY=%s for loyaltyd)\nregistered  %s\n%s",
                key_id.c_str(), path.c_str(), path.c_str(),
                registered ? "yes" : "no (set LOYALTY_DATABASE_URL to register the public key)", public_pem.c_str());
  }
  return 0;
}

}  // namespace loyalty::tools
