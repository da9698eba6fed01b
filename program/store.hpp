// Applying a program: validate as a whole, then record a new version and create what the
// version needs (assets, funding accounts, partner clearing accounts) in one transaction.
// Applying the document that is already in force changes nothing.
#pragma once

#include <pqxx/pqxx>

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "program/document.hpp"
#include "program/program.hpp"

namespace loyalty::program {

struct AppliedProgram {
  int version = 0;
  bool changed = false;  // false: this document was already in force
  std::string sha256;    // hex, of the canonical JSON
};

struct ProgramVersion {
  int version = 0;
  Program program;
  nlohmann::json document;
  std::string sha256;
  Timestamp applied_at;
};

std::variant<AppliedProgram, DocumentProblems> apply_program(pqxx::transaction_base& txn,
                                                             const nlohmann::json& document,
                                                             const std::string& applied_by);

std::optional<ProgramVersion> current_program(pqxx::transaction_base& txn);

// A version as it was stored: its document is not parsed again (an old version need not pass
// today's checks to be shown).
struct StoredVersion {
  int version = 0;
  std::string sha256;
  Timestamp applied_at;
  std::string applied_by;
  nlohmann::json document;  // only from find_version
};

// Versions newest first, below `before_version` when given; without their documents.
std::vector<StoredVersion> list_versions(pqxx::transaction_base& txn, std::optional<int> before_version, int limit);
std::optional<StoredVersion> find_version(pqxx::transaction_base& txn, int version);

// Adds an asset unless its code is taken; true if it was added now (a partner's currency is
// added when the partner registers; the program's own when it is applied).
bool add_asset(pqxx::transaction_base& txn, const std::string& code, bool spendable);

// Account names the program's entries use.
std::string partner_clearing_account(const std::string& partner_id);  // "partner:skyair"

}  // namespace loyalty::program
