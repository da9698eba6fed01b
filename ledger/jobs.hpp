// Jobs: work that runs for a moment in time (`as_of`) rather than for a request — releasing
// lapsed holds, expiring points, releasing pending points, evaluating tiers...
//
// A job runs in chunks, each its own short transaction, so that it never holds locks for
// long and shows progress. Every chunk takes the job's advisory lock with try-lock: when two
// processes start the same job at once, one works and the other answers "busy". A run that
// finished for an `as_of` is recorded in job_runs; running it again for the same `as_of`
// answers "already_done" and changes nothing. Steps are written to cost a few statements per
// chunk whatever its size (docs/ARCHITECTURE.md, "Jobs").
#pragma once

#include <pqxx/pqxx>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ledger/journal.hpp"
#include "platform/time.hpp"

namespace loyalty::ledger {

// One chunk of a job's run, as its step sees it.
struct JobChunk {
  Timestamp as_of;
  int limit = 0;  // process at most about this many items
  Origin origin;
  // Where the previous chunk of this run stopped ("" before the first). A step that walks its
  // items in key order reads it and sets it to the last key it processed; it is stored with the
  // chunk, so a run that stops midway resumes after it. Steps whose processed items stop being
  // due (a lot that expired is no longer expirable) need no cursor and leave it alone.
  std::string cursor;
};

struct StepResult {
  std::int64_t items = 0;  // processed by this chunk
  bool done = false;       // nothing due at as_of is left
};

struct JobDefinition {
  std::string name;
  std::function<StepResult(pqxx::transaction_base&, JobChunk&)> step;
  // Told when a run throws (after its chunk rolled back), on the run's connection, before the
  // error goes on to the caller: the job.failed event is recorded this way (api/jobs_catalog).
  // Whatever it throws is logged and dropped: the run's own error is the one reported.
  std::function<void(pqxx::connection&, const std::string& job, Timestamp as_of, const std::string& error)> on_failure;
};

// The jobs of the ledger itself.
std::vector<JobDefinition> ledger_jobs();

enum class ChunkOutcome { more, finished, already_done, busy };

struct ChunkResult {
  ChunkOutcome outcome = ChunkOutcome::more;
  std::int64_t items = 0;  // processed by this chunk
};

inline constexpr int job_chunk_items = 1000;

// `started_by` ("key:key_… (name)", "operator:alice", "scheduler") is recorded on the run's
// row when this chunk is its first; a run resumed by someone else keeps its first starter.
ChunkResult run_job_chunk(pqxx::transaction_base& txn, const JobDefinition& job, Timestamp as_of,
                          int chunk = job_chunk_items, const std::string& started_by = "");

struct JobReport {
  std::string job;
  Timestamp as_of;
  std::string status;  // done, already_done, busy, stopped
  std::int64_t items = 0;
  Timestamp started_at;
  std::optional<Timestamp> finished_at;
};

// How a run is driven from outside: who started it, who is told its progress, and when it
// should stop early.
struct RunControl {
  std::string started_by;
  std::function<void(std::int64_t)> progress;  // told the running item count after each chunk
  // Asked between chunks: true stops the run there ("stopped"); it resumes where it was when
  // it is run again for the same as_of (a graceful stop of the process).
  std::function<bool()> stop_requested;
};

// Runs every chunk of a job on one connection. `progress` is told the running item count.
JobReport run_job(pqxx::connection& connection, const JobDefinition& job, Timestamp as_of,
                  const std::function<void(std::int64_t)>& progress = {});
JobReport run_job(pqxx::connection& connection, const JobDefinition& job, Timestamp as_of, const RunControl& control);

// For /metrics. The last finished run of a job, from job_runs (whichever process ran it).
struct FinishedRun {
  Timestamp finished_at;
  std::int64_t items = 0;
};
std::optional<FinishedRun> last_finished_run(pqxx::transaction_base& txn, const std::string& job);

// A run as job_runs records it: one row per (job, as_of), with the items its chunks processed.
// A run without finished_at is unfinished: running now, stopped between chunks, or failed
// (job_runs does not tell these apart; a failure is reported as a job.failed event).
struct RecordedRun {
  std::string job;
  Timestamp as_of;
  Timestamp started_at;
  std::optional<Timestamp> finished_at;
  std::int64_t items = 0;
  std::optional<std::string> started_by;
};

// A job's runs, latest as_of first, before `before_as_of` when given.
std::vector<RecordedRun> list_job_runs(pqxx::transaction_base& txn, const std::string& job,
                                       std::optional<Timestamp> before_as_of, int limit);
// The latest run of each of `jobs` that has one (finished or not).
std::map<std::string, RecordedRun> latest_job_runs(pqxx::transaction_base& txn, const std::vector<std::string>& jobs);

// Runs of run_job that threw (the database went away, a bug in a step), in this process: a
// failed run leaves no finished row, so only the process that saw it can count it.
struct JobFailures {
  std::int64_t count = 0;
  Timestamp last_at;
};
std::map<std::string, JobFailures> job_failures_seen();

}  // namespace loyalty::ledger
