#include "api/jobs_catalog.hpp"

#include "api/limits.hpp"
#include "app/idempotency.hpp"
#include "audit/job_audit.hpp"
#include "earning/jobs.hpp"
#include "membership/tiers.hpp"
#include "outbox/outbox.hpp"
#include "partners/statements.hpp"
#include "platform/log.hpp"

namespace loyalty::api {

std::vector<ledger::JobDefinition> all_jobs(const SigningKey& signing_key) {
  auto jobs = ledger::ledger_jobs();
  for (auto& job : earning::earning_jobs()) jobs.push_back(std::move(job));
  jobs.push_back(membership::evaluate_tiers_job());
  jobs.push_back(
      {"purge-idempotency-keys", [](pqxx::transaction_base& txn, ledger::JobChunk& chunk) -> ledger::StepResult {
         // One statement deletes them all; the job is done in one chunk.
         app::purge_keys(txn, chunk.as_of - limits::idempotency_retention);
         return {0, true};
       }});
  jobs.push_back(
      {"close-statements", [signing_key](pqxx::transaction_base& txn, ledger::JobChunk& chunk) -> ledger::StepResult {
         const std::int64_t closed = partners::close_statements_step(txn, chunk.as_of, chunk.limit, signing_key);
         return {closed, closed < chunk.limit};
       }});
  // Every finished job run is recorded in the audit trail (audit/job_audit.hpp); every run that
  // fails is reported as a job.failed event, in a transaction of its own (the run's rolled back).
  for (auto& job : jobs) {
    job = audit::audited_job(std::move(job));
    job.on_failure = [](pqxx::connection& connection, const std::string& name, Timestamp as_of,
                        const std::string& error) {
      std::string data = "{\"job\":\"";
      log::append_json_escaped(data, name);
      data += "\",\"as_of\":\"" + format_rfc3339(as_of) + "\",\"error\":\"";
      log::append_json_escaped(data, error.substr(0, 500));
      data += "\"}";
      pqxx::work txn{connection, "job_failed"};
      outbox::record(txn, {{"job.failed", now_utc(), std::nullopt, std::nullopt, std::move(data)}});
      txn.commit();
    };
  }
  return jobs;
}

namespace {
constexpr JobSchedule schedules[] = {
    {"expire-holds", std::chrono::minutes{1}},         {"release-pending", std::chrono::minutes{1}},
    {"purge-idempotency-keys", std::chrono::hours{1}}, {"expire-points", std::chrono::hours{24}},
    {"decay-growth", std::chrono::hours{24}},          {"evaluate-tiers", std::chrono::hours{24}},
    {"close-statements", std::chrono::hours{24}},      {"notify-expiring", std::chrono::hours{24}},
};
}  // namespace

std::span<const JobSchedule> job_schedules() {
  return schedules;
}

std::string schedule_text(std::string_view job) {
  for (const JobSchedule& schedule : schedules) {
    if (schedule.job != job) continue;
    const auto seconds = schedule.period.count();
    if (seconds % 86400 == 0) return "P" + std::to_string(seconds / 86400) + "D";
    if (seconds % 3600 == 0) return "PT" + std::to_string(seconds / 3600) + "H";
    if (seconds % 60 == 0) return "PT" + std::to_string(seconds / 60) + "M";
    return "PT" + std::to_string(seconds) + "S";
  }
  return "";
}

std::optional<ledger::JobDefinition> find_job(std::string_view name, const SigningKey& signing_key) {
  for (auto& job : all_jobs(signing_key)) {
    if (job.name == name) return job;
  }
  return std::nullopt;
}

std::vector<std::string> job_names() {
  std::vector<std::string> names;
  for (const auto& job : all_jobs(SigningKey{})) names.push_back(job.name);
  return names;
}

}  // namespace loyalty::api
