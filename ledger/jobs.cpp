#include "ledger/jobs.hpp"

#include <mutex>

#include "ledger/holds.hpp"
#include "platform/database.hpp"
#include "platform/executor.hpp"
#include "platform/log.hpp"

namespace loyalty::ledger {
namespace {

const db::Statement try_lock{"jobs.try_lock", "SELECT pg_try_advisory_xact_lock($1)"};
const db::Statement select_run{"jobs.select_run",
                               "SELECT finished_at, cursor FROM job_runs WHERE job = $1 AND as_of = $2"};
const db::Statement add_items{
    "jobs.add_items",
    "INSERT INTO job_runs (job, as_of, items, finished_at, cursor, started_by) VALUES ($1, $2, $3,"
    " CASE WHEN $4 THEN clock_timestamp() END, $5, NULLIF($6, ''))"
    " ON CONFLICT (job, as_of) DO UPDATE SET items = job_runs.items + EXCLUDED.items,"
    " finished_at = EXCLUDED.finished_at, cursor = EXCLUDED.cursor"};

const db::Statement select_last_finished{
    "jobs.last_finished",
    "SELECT finished_at, items FROM job_runs WHERE job = $1 AND finished_at IS NOT NULL ORDER BY as_of DESC LIMIT 1"};

#define LOYALTY_RUN_COLUMNS "job, as_of, started_at, finished_at, items, started_by"
const db::Statement select_runs{"jobs.select_runs",
                                "SELECT " LOYALTY_RUN_COLUMNS
                                " FROM job_runs WHERE job = $1 AND ($2::timestamptz IS NULL OR as_of < $2)"
                                " ORDER BY as_of DESC LIMIT $3"};
// One index probe per job (the primary key), however many runs each has.
const db::Statement select_latest_runs{"jobs.select_latest_runs",
                                       "SELECT r.* FROM unnest($1::text[]) AS j(name) CROSS JOIN LATERAL"
                                       " (SELECT " LOYALTY_RUN_COLUMNS
                                       " FROM job_runs WHERE job = j.name ORDER BY as_of DESC LIMIT 1) r"};
#undef LOYALTY_RUN_COLUMNS

RecordedRun run_of_row(const pqxx::row& row) {
  RecordedRun run;
  run.job = row[0].c_str();
  run.as_of = db::time_of(row[1]);
  run.started_at = db::time_of(row[2]);
  if (!row[3].is_null()) run.finished_at = db::time_of(row[3]);
  run.items = row[4].as<std::int64_t>();
  run.started_by = db::optional_text(row[5]);
  return run;
}

std::mutex failures_mutex;
std::map<std::string, JobFailures> failures;  // guarded by failures_mutex

Origin job_origin(const JobDefinition& job) {
  return Origin{std::nullopt, "job:" + job.name};
}

}  // namespace

// Every chunk of one run (run_job counts the runs that throw).
JobReport run_job_chunks(pqxx::connection& connection, const JobDefinition& job, Timestamp as_of,
                         const RunControl& control);

std::vector<JobDefinition> ledger_jobs() {
  return {
      {"expire-holds",
       [](pqxx::transaction_base& txn, JobChunk& chunk) -> StepResult {
         const std::int64_t released = release_lapsed_holds(txn, std::nullopt, chunk.as_of, chunk.limit, chunk.origin);
         return {released, released < chunk.limit};
       }},
  };
}

ChunkResult run_job_chunk(pqxx::transaction_base& txn, const JobDefinition& job, Timestamp as_of, int chunk,
                          const std::string& started_by) {
  // The lock key is the job's name hashed into PostgreSQL's signed bigint.
  const auto key = static_cast<std::int64_t>(db::routing_key_of("job:" + job.name));
  if (!db::exec(txn, try_lock, key)[0][0].as<bool>()) return {ChunkOutcome::busy, 0};
  const auto run = db::exec(txn, select_run, job.name, db::sql_time(as_of));
  if (!run.empty() && !run[0][0].is_null()) return {ChunkOutcome::already_done, 0};
  JobChunk work{as_of, chunk, job_origin(job), run.empty() || run[0][1].is_null() ? "" : run[0][1].c_str()};
  const StepResult step = job.step(txn, work);
  db::exec(txn, add_items, job.name, db::sql_time(as_of), step.items, step.done, work.cursor, started_by);
  return {step.done ? ChunkOutcome::finished : ChunkOutcome::more, step.items};
}

JobReport run_job(pqxx::connection& connection, const JobDefinition& job, Timestamp as_of,
                  const std::function<void(std::int64_t)>& progress) {
  return run_job(connection, job, as_of, RunControl{"", progress, {}});
}

JobReport run_job(pqxx::connection& connection, const JobDefinition& job, Timestamp as_of, const RunControl& control) {
  try {
    return run_job_chunks(connection, job, as_of, control);
  } catch (const std::exception& error) {
    {
      std::lock_guard lock{failures_mutex};
      JobFailures& seen = failures[job.name];
      ++seen.count;
      seen.last_at = now_utc();
    }
    if (job.on_failure) {
      try {
        job.on_failure(connection, job.name, as_of, error.what());
      } catch (const std::exception& also) {
        log::warn("a failed job run could not be reported", {{"job", job.name}, {"error", also.what()}});
      }
    }
    throw;
  }
}

std::vector<RecordedRun> list_job_runs(pqxx::transaction_base& txn, const std::string& job,
                                       std::optional<Timestamp> before_as_of, int limit) {
  const std::optional<std::string> before = before_as_of ? std::optional(db::sql_time(*before_as_of)) : std::nullopt;
  std::vector<RecordedRun> runs;
  for (const auto& row : db::exec(txn, select_runs, job, db::nullable(before), limit)) runs.push_back(run_of_row(row));
  return runs;
}

std::map<std::string, RecordedRun> latest_job_runs(pqxx::transaction_base& txn, const std::vector<std::string>& jobs) {
  std::map<std::string, RecordedRun> latest;
  for (const auto& row : db::exec(txn, select_latest_runs, db::array_literal(jobs))) {
    RecordedRun run = run_of_row(row);
    latest.emplace(run.job, std::move(run));
  }
  return latest;
}

std::optional<FinishedRun> last_finished_run(pqxx::transaction_base& txn, const std::string& job) {
  const auto rows = db::exec(txn, select_last_finished, job);
  if (rows.empty()) return std::nullopt;
  return FinishedRun{db::time_of(rows[0][0]), rows[0][1].as<std::int64_t>()};
}

std::map<std::string, JobFailures> job_failures_seen() {
  std::lock_guard lock{failures_mutex};
  return failures;
}

JobReport run_job_chunks(pqxx::connection& connection, const JobDefinition& job, Timestamp as_of,
                         const RunControl& control) {
  JobReport report{job.name, as_of, "done", 0, now_utc(), std::nullopt};
  while (true) {
    const ChunkResult chunk = db::run_transaction(connection, "job", [&](pqxx::transaction_base& txn) {
      return run_job_chunk(txn, job, as_of, job_chunk_items, control.started_by);
    });
    report.items += chunk.items;
    if (control.progress) control.progress(report.items);
    if (chunk.outcome == ChunkOutcome::more) {
      if (control.stop_requested && control.stop_requested()) {
        report.status = "stopped";  // at a chunk boundary: the next run resumes from here
        return report;
      }
      continue;
    }
    if (chunk.outcome == ChunkOutcome::already_done) report.status = "already_done";
    if (chunk.outcome == ChunkOutcome::busy) report.status = "busy";
    if (chunk.outcome == ChunkOutcome::finished) report.finished_at = now_utc();
    return report;
  }
}

}  // namespace loyalty::ledger
