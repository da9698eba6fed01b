// The database executor: a fixed set of worker threads, each owning one connection, that run
// the service's database work so that no HTTP I/O thread ever waits on PostgreSQL.
//
// Batches. A worker takes every job waiting in its queue (up to batch_jobs_max). Writes
// (BatchItem) are handed together to the batch applier (app/write_protocol.hpp), which applies
// them as one unit in ONE transaction with a constant number of statements; the worker commits
// once, retries the whole batch on a deadlock or serialization failure, and when the batch
// fails for another reason applies its items one by one so that only the item at fault fails.
// Other jobs (reads, and operations of their own) run in one transaction, each in its own
// savepoint: a job that refuses (returns false) or fails rolls back to its savepoint.
// Completions are delivered only after the commit, so no caller ever sees an answer for
// writes that did not become durable.
//
// Routing. Jobs are routed to workers by a key (the member, or the resource), so that other
// jobs touching the same rows meet in the same worker instead of waiting on each other's locks
// across open transactions.
//
// Gathering turn. One worker at a time gathers a batch of writes: it takes the turn before it
// takes its jobs, takes the writes waiting in every other worker's queue too (in the order
// they arrived), and passes the turn on once its batch holds its locks (the applier says so),
// before the batch's reads, writes and commit. The writes that arrive meanwhile wait, and meet
// in the next batch: bigger batches, so fewer statements and commits per request, while the
// batches that hold their locks still write and commit side by side. A later batch that
// touches a member of an earlier one waits for its row locks, as the batch of another process
// does; every batch takes its locks in one global order, so neither deadlocks. A batch of
// other jobs passes the turn on at once.
#pragma once

#include <pqxx/pqxx>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "platform/database.hpp"
#include "platform/histogram.hpp"

namespace loyalty::db {

enum class JobStatus {
  finished,              // the job ran; its writes are committed if it kept them
  database_unavailable,  // nothing was committed; the database could not be reached
  in_doubt,              // the commit's outcome is unknown; the idempotency key resolves it
  overloaded,            // the queue was full; nothing ran
  failed,                // the job threw (a bug or an unexpected database error); rolled back
};

// A write the batch applier knows how to apply together with others; opaque here.
class BatchItem {
 public:
  virtual ~BatchItem() = default;
};

// Applies a batch of writes inside `txn` (the worker commits). Throws to fail the batch. Calls
// `locked` once the batch holds the locks it takes before deciding (its keys and rows), which
// lets another worker gather its batch; calling it again, or not at all, is harmless (the
// turn passes at the commit then).
using BatchApplier = std::function<void(pqxx::transaction_base& txn, const std::vector<BatchItem*>& items,
                                        const std::function<void()>& locked)>;

struct ExecutorOptions {
  std::string database_url;
  int workers = 8;
  int batch_jobs_max = 32;
  // How long a worker that found fewer jobs than batch_jobs_max waits for more before it
  // begins the batch (0: never). Under load, a short wait lets the requests of clients that are
  // about to send join one transaction (one commit, one fsync) instead of starting the next one.
  std::chrono::microseconds batch_linger{0};
  // Plan the batch applier's statements once per connection (plan_cache_mode =
  // force_generic_plan) instead of again on every execution. PostgreSQL keeps custom plans for
  // statements whose generic plan it estimates dearer, which is every statement over unnest()
  // of an array parameter: planning was about an eighth of the database's CPU on events. The
  // write path's statements are keyed lookups and multi-row inserts, whose plan does not depend
  // on the values; other jobs (reads with optional filters, whose best plan does) keep
  // PostgreSQL's choice. The same sessions rule out sequential scans (see use_generic_plans).
  // The worker switches its session only when the kind of work changes.
  bool generic_plans_for_writes = true;
  int queue_jobs_max = 4096;  // per worker; more is refused as overloaded
  SessionLimits session_limits;
  BatchApplier apply_batch;  // required to submit BatchItems
};

class Executor {
 public:
  // Runs inside the batch's transaction (a savepoint when the batch has several jobs).
  // Returns true to keep its writes, false to roll them back (a refusal).
  using Work = std::function<bool(pqxx::transaction_base&)>;
  // Called on the worker thread once the outcome is known.
  using Done = std::function<void(JobStatus, std::exception_ptr)>;

  explicit Executor(ExecutorOptions options);
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  void submit(std::uint64_t routing_key, Work work, Done done);
  // A write applied in a batch with others by options.apply_batch.
  void submit(std::uint64_t routing_key, std::shared_ptr<BatchItem> item, Done done);

  // Observability for /metrics and /readyz.
  std::int64_t queued_jobs() const { return queued_.load(); }
  std::int64_t committed_batches() const { return batches_.load(); }
  std::int64_t jobs_run() const { return jobs_.load(); }
  std::int64_t committed_tally() const { return committed_tally_.load(); }
  bool database_reachable() const { return reachable_.load(); }
  int workers() const { return static_cast<int>(workers_.size()); }
  // How long jobs waited in their worker's queue before their batch began, and how long the
  // worker took for each batch (its transaction or transactions, and handing back outcomes).
  const Histogram& queue_wait() const { return queue_wait_; }
  const Histogram& batch_duration() const { return batch_duration_; }

 private:
  struct Job {
    Work work;
    std::shared_ptr<BatchItem> item;
    Done done;
    JobStatus status = JobStatus::finished;
    std::exception_ptr error;
    std::int64_t tally_kept = 0;
    std::chrono::steady_clock::time_point enqueued = std::chrono::steady_clock::now();
  };
  struct Worker {
    std::mutex mutex;
    std::condition_variable wake;
    std::deque<Job> queue;
    std::thread thread;
    std::unique_ptr<pqxx::connection> connection;
    int last_batch_jobs = 0;            // jobs in the batch this worker began last
    bool generic_plans = false;         // the connection's plan_cache_mode is force_generic_plan
    std::unique_lock<std::mutex> turn;  // the gathering turn, while this worker holds it
  };
  static bool lingering_pays(const Worker& worker) { return worker.last_batch_jobs > 1; }
  static bool has_writes(const std::vector<Job>& batch) {
    return std::any_of(batch.begin(), batch.end(), [](const Job& job) { return job.item != nullptr; });
  }
  static void pass_turn(Worker& worker) {
    if (worker.turn.owns_lock()) worker.turn.unlock();
  }

  void run_worker(Worker& worker);
  void gather_writes(Worker& gatherer, std::vector<Job>& batch);
  bool ensure_connection(Worker& worker);
  static void use_generic_plans(Worker& worker, bool wanted);
  void run_batch(Worker& worker, std::vector<Job>& batch);
  void run_alone(Worker& worker, Job& job);
  bool try_batch(Worker& worker, std::vector<Job>& batch);
  static void run_in_savepoint(pqxx::dbtransaction& txn, Job& job);
  void apply_items(Worker& worker, std::vector<Job*>& items);
  bool try_items(Worker& worker, std::vector<Job*>& items);
  void enqueue(std::uint64_t routing_key, Job job);

  ExecutorOptions options_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::atomic<bool> stopping_{false};
  std::atomic<std::int64_t> queued_{0};
  std::atomic<std::int64_t> batches_{0};
  std::atomic<std::int64_t> jobs_{0};
  std::atomic<std::int64_t> committed_tally_{0};
  std::atomic<bool> reachable_{false};
  std::mutex gathering_turn_;  // held by the worker that gathers a batch (see the top of this file)
  Histogram queue_wait_;
  Histogram batch_duration_;
};

// A stable routing key for a string (FNV-1a).
std::uint64_t routing_key_of(std::string_view text);

}  // namespace loyalty::db
