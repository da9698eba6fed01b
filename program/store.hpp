// Applying a program: validate as a whole, then record a new version and create what the
// version needs (assets, funding accounts, partner clearing accounts) in one transaction.
// Applying the document that is already in force changes nothing.
#pragma once

#include <pqxx/pqxx>

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <variant>

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

// Account names the program's entries use.
std::string partner_clearing_account(const std::string& partner_id);  // "partner:skyair"

}  // namespace loyalty::program
