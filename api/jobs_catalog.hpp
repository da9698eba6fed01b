// Every job the service knows, by name: the ledger's own and the API's housekeeping.
#pragma once

#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ledger/jobs.hpp"
#include "platform/ed25519.hpp"

namespace loyalty::api {

// The jobs, with our signing key for what they sign (close-statements signs the statements it
// closes; without a key they are stored unsigned).
std::vector<ledger::JobDefinition> all_jobs(const SigningKey& signing_key);
std::optional<ledger::JobDefinition> find_job(std::string_view name, const SigningKey& signing_key);
std::vector<std::string> job_names();

// How often loyaltyd's scheduler runs a job: every run is for the start of its period (the
// minute, the hour, the UTC day), so each job runs once per period however many processes run
// the scheduler, and a process that restarts does not redo a period.
struct JobSchedule {
  const char* job;
  std::chrono::seconds period;
};
std::span<const JobSchedule> job_schedules();
// The period as ISO 8601 ("PT1M", "PT1H", "P1D"); "" for a job that is not scheduled.
std::string schedule_text(std::string_view job);

}  // namespace loyalty::api
