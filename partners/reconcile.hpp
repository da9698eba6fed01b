// Reconciliation: a partner's CSV of one day's transactions against our statement lines.
//
// The CSV has a header row naming its columns; `kind` (exchange_in, exchange_out, claim) and
// `id` (the exchange or claim id) are required, and any of partner_member_ref, points,
// units, cents, right_code present are compared. Fields may be quoted ("a,b", "" for "); the
// file is read by audit/csv.hpp (RFC 4180, with its limits).
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace loyalty::partners {

struct Difference {
  std::string kind;
  std::string id;
  std::string problem;  // "only in ours", "only in theirs", "points: ours 800, theirs 80"
};

struct CsvProblem {
  std::string detail;
};

// Every difference, in our order then theirs; a CSV that cannot be read is a CsvProblem.
std::variant<std::vector<Difference>, CsvProblem> reconcile(const nlohmann::json& our_lines, std::string_view csv);

}  // namespace loyalty::partners
