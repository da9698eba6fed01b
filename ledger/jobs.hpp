// Jobs: work that runs for a moment in time (`as_of`) rather than for a request — releasing
// lapsed holds now, and in later capabilities expiring points, releasing pending points...
//
// A job runs in chunks, each its own short transaction, so that it never holds locks for
// long and shows progress. Every chunk takes the job's advisory lock with try-lock: when two
// processes start the same job at once, one works and the other answers "busy". A run that
// finished for an `as_of` is recorded in job_runs; running it again for the same `as_of`
// answers "already_done" and changes nothing.
#pragma once

#include <pqxx/pqxx>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ledger/journal.hpp"
#include "ledger/time.hpp"

namespace loyalty::ledger {

struct JobDefinition {
  std::string name;
  // Processes up to `chunk` items due at `as_of`; returns how many it processed. Fewer than
  // `chunk` means the job is done.
  std::function<std::int64_t(pqxx::transaction_base&, Timestamp as_of, int chunk, const Origin&)> step;
};

// The jobs of the ledger itself.
std::vector<JobDefinition> ledger_jobs();

enum class ChunkOutcome { more, finished, already_done, busy };

struct ChunkResult {
  ChunkOutcome outcome = ChunkOutcome::more;
  std::int64_t items = 0;  // processed by this chunk
};

inline constexpr int job_chunk_items = 1000;

ChunkResult run_job_chunk(pqxx::transaction_base& txn, const JobDefinition& job, Timestamp as_of,
                          int chunk = job_chunk_items);

struct JobReport {
  std::string job;
  Timestamp as_of;
  std::string status;  // done, already_done, busy
  std::int64_t items = 0;
  Timestamp started_at;
  std::optional<Timestamp> finished_at;
};

// Runs every chunk of a job on one connection. `progress` is told the running item count.
JobReport run_job(pqxx::connection& connection, const JobDefinition& job, Timestamp as_of,
                  const std::function<void(std::int64_t)>& progress = {});

}  // namespace loyalty::ledger
