#include "platform/migrator.hpp"

#include <pqxx/pqxx>

#include <algorithm>
#include <map>
#include <stdexcept>

#include "migrations/embedded.hpp"
#include "platform/digest.hpp"

namespace loyalty::db {
namespace {

constexpr const char* create_table_sql =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " file_name text PRIMARY KEY, sha256 text NOT NULL,"
    " applied_at timestamptz NOT NULL DEFAULT now())";

// Serialises concurrent `migrate` runs (two deployments starting at once).
constexpr long long migrate_lock_key = 0x6c6f79616c7479;  // "loyalty"

std::map<std::string, std::string> applied_checksums(pqxx::transaction_base& txn) {
  std::map<std::string, std::string> applied;
  const auto exists = txn.exec("SELECT to_regclass('schema_migrations') IS NOT NULL");
  if (!exists[0][0].as<bool>()) return applied;
  for (const auto& row : txn.exec("SELECT file_name, sha256 FROM schema_migrations"))
    applied[row[0].c_str()] = row[1].c_str();
  return applied;
}

SchemaStatus compare(const std::map<std::string, std::string>& applied) {
  SchemaStatus status;
  std::map<std::string, bool> known;
  for (const auto& migration : migrations::embedded()) {
    const std::string name(migration.file_name);
    known[name] = true;
    const auto found = applied.find(name);
    if (found == applied.end()) {
      status.pending.push_back(name);
    } else if (found->second != to_hex(sha256(migration.sql))) {
      status.problems.push_back(name + " was edited after it was applied");
    } else {
      status.applied.push_back(name);
    }
  }
  for (const auto& [name, checksum] : applied) {
    if (!known.count(name)) status.problems.push_back(name + " is applied but unknown to this binary");
  }
  return status;
}

}  // namespace

SchemaStatus schema_status(pqxx::transaction_base& txn) {
  return compare(applied_checksums(txn));
}

std::vector<std::string> migrate(pqxx::connection& connection,
                                 const std::function<void(const std::string&)>& progress) {
  {
    pqxx::nontransaction setup{connection, "migrate_setup"};
    setup.exec(create_table_sql);
  }
  std::vector<std::string> done;
  for (const auto& migration : migrations::embedded()) {
    pqxx::work txn{connection, "migrate"};
    txn.exec("SELECT pg_advisory_xact_lock(" + std::to_string(migrate_lock_key) + ")");
    const auto status = compare(applied_checksums(txn));
    if (!status.problems.empty()) throw std::runtime_error(status.problems.front());
    const std::string name(migration.file_name);
    if (std::find(status.pending.begin(), status.pending.end(), name) == status.pending.end()) continue;
    if (progress) progress(name);
    txn.exec(std::string(migration.sql));
    txn.exec_params("INSERT INTO schema_migrations (file_name, sha256) VALUES ($1, $2)", name,
                    to_hex(sha256(migration.sql)));
    txn.commit();
    done.push_back(name);
  }
  return done;
}

}  // namespace loyalty::db
