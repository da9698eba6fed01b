// The migration files compiled into the binaries, in the order they apply.
#pragma once

#include <string_view>
#include <vector>

namespace loyalty::migrations {

struct EmbeddedMigration {
  std::string_view file_name;  // "0001_ledger_core.sql"
  std::string_view sql;
};

const std::vector<EmbeddedMigration>& embedded();

}  // namespace loyalty::migrations
