// Applying a program as the earning engine needs it: the document's version and accounts
// (program/store.hpp) and the campaign budgets, in the caller's transaction.
#pragma once

#include "program/store.hpp"

namespace loyalty::earning {

std::variant<program::AppliedProgram, program::DocumentProblems> apply_program(pqxx::transaction_base& txn,
                                                                               const nlohmann::json& document,
                                                                               const std::string& applied_by);

}  // namespace loyalty::earning
