#include "partners/reconcile.hpp"

#include <map>

#include "audit/csv.hpp"

namespace loyalty::partners {
namespace {

using nlohmann::json;
using Row = std::map<std::string, std::string>;

constexpr const char* compared_fields[] = {"partner_member_ref", "points", "units", "cents", "right_code"};

std::string text_of(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_null()) return "";
  return value.dump();
}

}  // namespace

std::variant<std::vector<Difference>, CsvProblem> reconcile(const json& our_lines, std::string_view csv) {
  auto parsed = audit::read_csv(csv);
  if (parsed.problem) return CsvProblem{*parsed.problem};
  auto& records = parsed.records;
  if (records.empty()) return CsvProblem{"the file has no header row"};
  const auto header = records.front();
  std::map<std::string, std::size_t> column;
  for (std::size_t i = 0; i < header.size(); ++i) column[header[i]] = i;
  if (!column.count("kind") || !column.count("id")) return CsvProblem{"the header must name the columns kind and id"};

  std::map<std::pair<std::string, std::string>, Row> theirs;
  std::vector<std::pair<std::string, std::string>> their_order;
  std::vector<Difference> differences;
  for (std::size_t r = 1; r < records.size(); ++r) {
    if (records[r].size() != header.size()) {
      return CsvProblem{"row " + std::to_string(r + 1) + " has " + std::to_string(records[r].size()) +
                        " fields; the header has " + std::to_string(header.size())};
    }
    Row row;
    for (const auto& [name, index] : column) row[name] = records[r][index];
    auto key = std::pair{row["kind"], row["id"]};
    if (theirs.count(key)) {
      differences.push_back({key.first, key.second, "listed twice in theirs"});
      continue;
    }
    their_order.push_back(key);
    theirs.emplace(std::move(key), std::move(row));
  }
  std::map<std::pair<std::string, std::string>, bool> ours_seen;
  for (const auto& line : our_lines) {
    const auto key = std::pair{text_of(line.value("kind", json())), text_of(line.value("id", json()))};
    ours_seen[key] = true;
    const auto found = theirs.find(key);
    if (found == theirs.end()) {
      differences.push_back({key.first, key.second, "only in ours"});
      continue;
    }
    for (const char* field : compared_fields) {
      if (!column.count(field)) continue;
      const std::string our_value = text_of(line.value(field, json()));
      const std::string& their_value = found->second.at(field);
      if (our_value != their_value) {
        differences.push_back({key.first, key.second,
                               std::string(field) + ": ours " + (our_value.empty() ? "(none)" : our_value) +
                                   ", theirs " + (their_value.empty() ? "(none)" : their_value)});
      }
    }
  }
  for (const auto& key : their_order) {
    if (!ours_seen.count(key)) differences.push_back({key.first, key.second, "only in theirs"});
  }
  return differences;
}

}  // namespace loyalty::partners
