// loyaltyctl signing-key init [--out PATH] [--json]: makes our Ed25519 signing key (the PEM
// loyaltyd reads from LOYALTY_SIGNING_KEY) and registers its public half in the database, so
// that GET /partner/v1/signing-keys serves it beside the keys it rotates out.
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

}  // namespace

int signing_key_command(int argc, char** argv) {
  Flags flags;
  if (const auto error = flags.parse(signing_key_flags, argc, argv, 3)) {
    std::fprintf(stderr, "loyaltyctl: %s\n", error->c_str());
    return 2;
  }
  if (flags.on("help") || argc < 3 || std::string(argv[2]) != "init" || !flags.positionals().empty()) {
    std::printf("loyaltyctl signing-key init [--out PATH] [--json]\n%s", Flags::help(signing_key_flags).c_str());
    return flags.on("help") ? 0 : 2;
  }
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
        audit::AuditRecord record;
        record.actor_kind = "operator";
        const char* user = std::getenv("USER");
        record.actor_id = std::string("operator:") + (user ? user : "unknown");
        record.action = "signing_key.create";
        record.subject = key_id;
        audit::record(txn, record);
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
