#include "earning/program_apply.hpp"

#include "earning/budgets.hpp"

namespace loyalty::earning {

std::variant<program::AppliedProgram, program::DocumentProblems> apply_program(pqxx::transaction_base& txn,
                                                                               const nlohmann::json& document,
                                                                               const std::string& applied_by) {
  auto applied = program::apply_program(txn, document, applied_by);
  const auto* done = std::get_if<program::AppliedProgram>(&applied);
  if (!done || !done->changed) return applied;
  const auto parsed = program::parse_program(document);
  if (!sync_campaign_budgets(txn, std::get<program::Program>(parsed))) {
    return program::DocumentProblems{{"campaigns: a budget is below what the campaign has already spent"}};
  }
  return applied;
}

}  // namespace loyalty::earning
