// Schema migrations: numbered SQL files under migrations/, embedded in the binaries, applied
// forward-only, each once, each in its own transaction, recorded with its SHA-256. A file
// that was applied and then edited is refused, and so is a database that has migrations
// this binary does not know (it is newer than the code).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <pqxx/pqxx>

namespace loyalty::db {

struct SchemaStatus {
  std::vector<std::string> applied;   // file names, in order
  std::vector<std::string> pending;   // known to this binary, not applied yet
  std::vector<std::string> problems;  // edited or unknown migrations
  bool current() const { return pending.empty() && problems.empty(); }
};

SchemaStatus schema_status(pqxx::transaction_base& txn);

// Applies every pending migration; throws std::runtime_error naming the first problem.
// `progress` is told each file as it is applied.
std::vector<std::string> migrate(pqxx::connection& connection,
                                 const std::function<void(const std::string&)>& progress = {});

}  // namespace loyalty::db
