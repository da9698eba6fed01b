#include "api/jobs_catalog.hpp"

#include "api/idempotency.hpp"
#include "api/limits.hpp"

namespace loyalty::api {

std::vector<ledger::JobDefinition> all_jobs() {
  auto jobs = ledger::ledger_jobs();
  jobs.push_back({"purge-idempotency-keys",
                  [](pqxx::transaction_base& txn, Timestamp as_of, int, const ledger::Origin&) -> std::int64_t {
                    // One statement deletes them all; the job is done in one chunk.
                    purge_idempotency_keys(txn, as_of - limits::idempotency_retention);
                    return 0;
                  }});
  return jobs;
}

std::optional<ledger::JobDefinition> find_job(std::string_view name) {
  for (auto& job : all_jobs()) {
    if (job.name == name) return job;
  }
  return std::nullopt;
}

}  // namespace loyalty::api
