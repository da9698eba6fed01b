// loyaltyctl partners reconcile --partner ID --date YYYY-MM-DD --csv FILE [--json]: compares a
// partner's CSV of one day's transactions with our statement of that day and lists every
// difference. Exit status: 0 when they agree, 1 when any difference (or an unreadable CSV),
// 2 for a usage error.
#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "partners/reconcile.hpp"
#include "partners/statements.hpp"
#include "platform/database.hpp"
#include "tools/flags.hpp"

namespace loyalty::tools {

int partners_reconcile(const Flags& flags) {
  const std::string partner_id = flags.value("partner"), date = flags.value("date"), url = flags.value("database-url");
  if (!partners::is_date(date)) {
    std::fprintf(stderr, "loyaltyctl: --date must be a UTC day, YYYY-MM-DD, not \"%s\"\n", date.c_str());
    return 2;
  }
  std::ifstream file{flags.value("csv"), std::ios::binary};
  if (!file) {
    std::fprintf(stderr, "loyaltyctl: cannot read %s\n", flags.value("csv").c_str());
    return 2;
  }
  std::stringstream csv;
  csv << file.rdbuf();
  partners::Statement statement;
  try {
    auto connection = db::connect(url);
    pqxx::read_transaction txn{*connection, "partners_reconcile"};
    statement = partners::statement_for(txn, partner_id, date);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "loyaltyctl: %s\n", error.what());
    return 1;
  }
  const auto outcome = partners::reconcile(partners::statement_lines(statement), csv.str());
  if (const auto* problem = std::get_if<partners::CsvProblem>(&outcome)) {
    std::fprintf(stderr, "loyaltyctl: %s: %s\n", flags.value("csv").c_str(), problem->detail.c_str());
    return 1;
  }
  const auto& differences = std::get<std::vector<partners::Difference>>(outcome);
  if (flags.on("json")) {
    nlohmann::json out{{"partner_id", partner_id},
                       {"date", date},
                       {"statement_id", statement.statement_id},
                       {"status", statement.status},
                       {"differences", nlohmann::json::array()}};
    for (const auto& d : differences)
      out["differences"].push_back({{"kind", d.kind}, {"id", d.id}, {"problem", d.problem}});
    std::printf("%s\n", out.dump().c_str());
  } else {
    for (const auto& d : differences) std::printf("%s %s: %s\n", d.kind.c_str(), d.id.c_str(), d.problem.c_str());
    std::printf("%s (%s): %zu difference(s)\n", statement.statement_id.c_str(), statement.status.c_str(),
                differences.size());
  }
  return differences.empty() ? 0 : 1;
}

}  // namespace loyalty::tools
