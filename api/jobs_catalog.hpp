// Every job the service knows, by name: the ledger's own and the API's housekeeping.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "ledger/jobs.hpp"

namespace loyalty::api {

std::vector<ledger::JobDefinition> all_jobs();
std::optional<ledger::JobDefinition> find_job(std::string_view name);

}  // namespace loyalty::api
