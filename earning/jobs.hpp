// The earning engine's jobs, each run for a moment (`as_of`) in chunks (ledger/jobs.hpp):
//   release-pending  pending points whose return window has passed become available;
//   expire-points    what is left of lots past their expiry goes to system:breakage;
//   decay-growth     contribution value decays once a year per member, by the program's percent.
#pragma once

#include <vector>

#include "ledger/jobs.hpp"

namespace loyalty::earning {

std::vector<ledger::JobDefinition> earning_jobs();

}  // namespace loyalty::earning
