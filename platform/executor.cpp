// Worker threads, batching, savepoints, retries and the commit.
#include "platform/executor.hpp"

#include <algorithm>
#include <chrono>

#include "platform/assert.hpp"
#include "platform/log.hpp"

namespace loyalty::db {

std::uint64_t routing_key_of(std::string_view text) {
  std::uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

Executor::Executor(ExecutorOptions options) : options_(std::move(options)) {
  LOYALTY_ASSERT(options_.workers > 0 && options_.batch_jobs_max > 0, "executor needs workers");
  for (int i = 0; i < options_.workers; ++i) workers_.push_back(std::make_unique<Worker>());
  for (auto& worker : workers_) {
    Worker* w = worker.get();
    w->thread = std::thread([this, w] { run_worker(*w); });
  }
}

Executor::~Executor() {
  stopping_ = true;
  for (auto& worker : workers_) {
    std::lock_guard lock{worker->mutex};
    worker->wake.notify_all();
  }
  for (auto& worker : workers_) worker->thread.join();
}

void Executor::submit(std::uint64_t routing_key, Work work, Done done) {
  enqueue(routing_key, Job{std::move(work), nullptr, std::move(done)});
}

void Executor::submit(std::uint64_t routing_key, std::shared_ptr<BatchItem> item, Done done) {
  LOYALTY_ASSERT(options_.apply_batch != nullptr, "a batch item submitted without a batch applier");
  enqueue(routing_key, Job{nullptr, std::move(item), std::move(done)});
}

void Executor::enqueue(std::uint64_t routing_key, Job job) {
  Worker& worker = *workers_[routing_key % workers_.size()];
  {
    std::lock_guard lock{worker.mutex};
    if (static_cast<int>(worker.queue.size()) < options_.queue_jobs_max && !stopping_) {
      worker.queue.push_back(std::move(job));
      ++queued_;
      worker.wake.notify_one();
      return;
    }
  }
  job.done(JobStatus::overloaded, nullptr);
}

// One transaction for all the items; true when it committed (or its outcome is in doubt).
bool Executor::try_items(Worker& worker, std::vector<Job*>& items) {
  std::vector<BatchItem*> batch;
  for (Job* job : items) batch.push_back(job->item.get());
  for (int attempt = 1;; ++attempt) {
    try {
      use_generic_plans(worker, options_.generic_plans_for_writes);
      BatchTransaction txn{*worker.connection};
      take_tally();
      options_.apply_batch(txn, batch, [&worker] { pass_turn(worker); });
      const std::int64_t tallied = take_tally();
      pass_turn(worker);
      txn.commit();
      committed_tally_ += tallied;
      for (Job* job : items) job->status = JobStatus::finished;
      return true;
    } catch (const pqxx::in_doubt_error&) {
      for (Job* job : items) job->status = JobStatus::in_doubt;
      return true;
    } catch (const pqxx::broken_connection&) {
      // Lost before the commit was sent, so nothing was committed: a pooled connection that
      // went stale (the database restarted) gets one fresh try.
      worker.connection.reset();
      if (attempt >= 2 || !ensure_connection(worker)) {
        for (Job* job : items) job->status = JobStatus::database_unavailable;
        return true;
      }
    } catch (const pqxx::statement_completion_unknown&) {
      // The connection went while a statement ran: it may have run. libpqxx never retries
      // this, and neither do we; the idempotency key tells the client.
      for (Job* job : items) job->status = JobStatus::in_doubt;
      return true;
    } catch (const pqxx::transaction_rollback&) {
      // A deadlock or serialization failure: the whole batch again, a bounded number of times.
      if (attempt >= transaction_attempts_max) {
        for (Job* job : items) {
          job->status = JobStatus::failed;
          job->error = std::current_exception();
        }
        return true;
      }
    } catch (const std::exception& error) {
      // Another transaction inserted the same new key (an order or event id) and committed
      // first: tried again, the batch reads that row and replays or refuses.
      if (dynamic_cast<const pqxx::unique_violation*>(&error) && attempt < transaction_attempts_max) continue;
      if (items.size() == 1) {
        items.front()->status = JobStatus::failed;
        items.front()->error = std::current_exception();
        return true;
      }
      log::warn("batch failed; applying its writes one by one", {{"error", error.what()}});
      return false;
    }
  }
}

void Executor::apply_items(Worker& worker, std::vector<Job*>& items) {
  if (items.empty()) return;
  if (try_items(worker, items)) return;
  // Nothing of the batch was committed: each item alone, so that only the one at fault fails.
  for (Job* job : items) {
    std::vector<Job*> alone{job};
    if (!worker.connection || !worker.connection->is_open()) {
      job->status = JobStatus::database_unavailable;
      continue;
    }
    try_items(worker, alone);
  }
}

bool Executor::ensure_connection(Worker& worker) {
  if (worker.connection && worker.connection->is_open()) return true;
  try {
    worker.connection = connect(options_.database_url, options_.session_limits);
    worker.generic_plans = false;
    reachable_ = true;
    return true;
  } catch (const std::exception& error) {
    worker.connection.reset();
    if (reachable_.exchange(false)) log::warn("database unreachable", {{"error", error.what()}});
    return false;
  }
}

void Executor::use_generic_plans(Worker& worker, bool wanted) {
  if (worker.generic_plans == wanted) return;
  pqxx::nontransaction session{*worker.connection, "plan_mode"};
  count_statement();
  // A generic plan is made once, when the connection first runs the statement, and kept for the
  // connection's life. Made while a table is small (a new database, the first minutes of a new
  // table), it can scan the table whole, and that scan then grows with the table: the accounts'
  // lock, the held lots' and the order lines' reads did so, at several milliseconds a batch.
  // Every statement of the write path finds its rows by key, so these sessions rule the
  // sequential scan out wherever an index serves (it stays possible where none does).
  session.exec(wanted ? "SET plan_cache_mode = force_generic_plan; SET enable_seqscan = off"
                      : "RESET plan_cache_mode; RESET enable_seqscan");
  worker.generic_plans = wanted;
}

void Executor::run_worker(Worker& worker) {
  std::vector<Job> batch;
  while (true) {
    {
      std::unique_lock lock{worker.mutex};
      worker.wake.wait(lock, [&] { return stopping_ || !worker.queue.empty(); });
    }
    // The jobs that arrive while another worker gathers wait for this worker's turn.
    worker.turn = std::unique_lock{gathering_turn_};
    {
      std::unique_lock lock{worker.mutex};
      if (stopping_ && worker.queue.empty()) {
        pass_turn(worker);
        return;
      }
      const auto take = [&] {
        while (!worker.queue.empty() && static_cast<int>(batch.size()) < options_.batch_jobs_max) {
          batch.push_back(std::move(worker.queue.front()));
          worker.queue.pop_front();
        }
      };
      take();
      // Linger only when the previous batch had company: a lone request on an idle service
      // starts at once.
      if (options_.batch_linger.count() > 0 && lingering_pays(worker) &&
          static_cast<int>(batch.size()) < options_.batch_jobs_max) {
        worker.wake.wait_for(lock, options_.batch_linger, [&] {
          return stopping_ || static_cast<int>(batch.size() + worker.queue.size()) >= options_.batch_jobs_max;
        });
        take();
      }
    }
    gather_writes(worker, batch);
    if (batch.empty()) {  // another gatherer took this worker's writes
      pass_turn(worker);
      continue;
    }
    worker.last_batch_jobs = static_cast<int>(batch.size());
    queued_ -= static_cast<std::int64_t>(batch.size());
    if (!has_writes(batch)) pass_turn(worker);  // only writes gather behind their locks
    if (!ensure_connection(worker)) {
      pass_turn(worker);
      for (Job& job : batch) job.done(JobStatus::database_unavailable, nullptr);
      batch.clear();
      // Do not spin while the database is away; the next batch tries again.
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      continue;
    }
    const auto began = std::chrono::steady_clock::now();
    for (const Job& job : batch) queue_wait_.observe(std::chrono::duration<double>(began - job.enqueued).count());
    run_batch(worker, batch);
    pass_turn(worker);
    batch_duration_.observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count());
    batch.clear();
  }
}

// The gatherer also takes the writes waiting in every other worker's queue (their other jobs
// stay, routed as they were), so that the writes that arrived while the turn was taken meet in
// one batch; then the batch is put in the order the jobs arrived in.
void Executor::gather_writes(Worker& gatherer, std::vector<Job>& batch) {
  if (!batch.empty() && !has_writes(batch)) return;  // a batch of other jobs gathers nothing
  const auto own = batch.size();
  for (auto& other : workers_) {
    if (other.get() == &gatherer) continue;
    std::lock_guard lock{other->mutex};
    for (auto job = other->queue.begin();
         job != other->queue.end() && static_cast<int>(batch.size()) < options_.batch_jobs_max;) {
      if (!job->item) {
        ++job;
        continue;
      }
      batch.push_back(std::move(*job));
      job = other->queue.erase(job);
    }
  }
  if (batch.size() == own) return;
  std::stable_sort(batch.begin(), batch.end(), [](const Job& a, const Job& b) { return a.enqueued < b.enqueued; });
}

// The savepoint is managed with plain SQL: libpqxx 6.4's subtransaction begins lazily and
// never issues its SAVEPOINT before a prepared statement, so a failing job would abort the
// whole batch (tests/pg/campaign_pgtest.cpp races jobs into that case).
void Executor::run_in_savepoint(pqxx::dbtransaction& txn, Job& job) {
  for (int attempt = 1;; ++attempt) {
    txn.exec("SAVEPOINT job");
    try {
      take_tally();
      if (job.work(txn)) {
        txn.exec("RELEASE SAVEPOINT job");
        job.tally_kept = take_tally();
      } else {
        txn.exec("ROLLBACK TO SAVEPOINT job; RELEASE SAVEPOINT job");
      }
      job.status = JobStatus::finished;
      return;
    } catch (const pqxx::broken_connection&) {
      throw;
    } catch (const pqxx::statement_completion_unknown&) {
      throw;  // the connection is gone: the batch's outcome is the commit's (try_batch)
    } catch (const pqxx::transaction_rollback&) {
      // Rolling back to the savepoint releases this job's locks; then the job tries again.
      txn.exec("ROLLBACK TO SAVEPOINT job; RELEASE SAVEPOINT job");
      if (attempt >= transaction_attempts_max) {
        job.status = JobStatus::failed;
        job.error = std::current_exception();
        return;
      }
    } catch (...) {
      txn.exec("ROLLBACK TO SAVEPOINT job; RELEASE SAVEPOINT job");
      job.status = JobStatus::failed;
      job.error = std::current_exception();
      return;
    }
  }
}

void Executor::run_alone(Worker& worker, Job& job) {
  for (int attempt = 1;; ++attempt) {
    try {
      use_generic_plans(worker, false);
      pqxx::work txn{*worker.connection, "job"};
      take_tally();
      const bool keep = job.work(txn);
      const std::int64_t tallied = take_tally();
      if (keep) {
        txn.commit();
        committed_tally_ += tallied;
      }
      job.status = JobStatus::finished;
      return;
    } catch (const pqxx::in_doubt_error&) {
      job.status = JobStatus::in_doubt;
      return;
    } catch (const pqxx::broken_connection&) {
      // Lost before the commit was sent, so nothing was committed: a pooled connection
      // that went stale (the database restarted) gets one fresh try.
      worker.connection.reset();
      if (attempt >= 2 || !ensure_connection(worker)) {
        job.status = JobStatus::database_unavailable;
        return;
      }
    } catch (const pqxx::statement_completion_unknown&) {
      job.status = JobStatus::in_doubt;  // it may have run: never retried (see try_items)
      return;
    } catch (const pqxx::transaction_rollback&) {
      if (attempt >= transaction_attempts_max) {
        job.status = JobStatus::failed;
        job.error = std::current_exception();
        return;
      }
    } catch (...) {
      job.status = JobStatus::failed;
      job.error = std::current_exception();
      return;
    }
  }
}

// Runs a batch in one transaction, each job in a savepoint. Returns false when the
// connection broke before the commit (nothing committed).
bool Executor::try_batch(Worker& worker, std::vector<Job>& batch) {
  try {
    use_generic_plans(worker, false);
    pqxx::work txn{*worker.connection, "batch"};
    std::int64_t tallied = 0;
    for (Job& job : batch) {
      run_in_savepoint(txn, job);
      tallied += job.tally_kept;
    }
    txn.commit();
    committed_tally_ += tallied;
  } catch (const pqxx::in_doubt_error&) {
    for (Job& job : batch) job.status = JobStatus::in_doubt;
  } catch (const pqxx::statement_completion_unknown&) {
    for (Job& job : batch) job.status = JobStatus::in_doubt;  // never retried (see try_items)
  } catch (const pqxx::broken_connection&) {
    worker.connection.reset();
    return false;
  } catch (const std::exception& error) {
    // The batch's commit failed for a reason that is not the connection's (a deferred
    // constraint, say). Nothing was committed; run each job alone so that only the job at
    // fault fails.
    log::warn("batch commit failed; running its jobs one by one", {{"error", error.what()}});
    for (Job& job : batch) {
      if (!worker.connection || !worker.connection->is_open()) {
        job.status = JobStatus::database_unavailable;
        continue;
      }
      run_alone(worker, job);
    }
  }
  return true;
}

void Executor::run_batch(Worker& worker, std::vector<Job>& all) {
  jobs_ += static_cast<std::int64_t>(all.size());
  // Writes go to the batch applier in one transaction; other jobs share one of their own.
  std::vector<Job*> items;
  std::vector<Job> batch;
  for (Job& job : all) {
    if (job.item) items.push_back(&job);
  }
  apply_items(worker, items);
  if (!items.empty()) ++batches_;
  for (Job& job : all) {
    if (!job.item) batch.push_back(std::move(job));
  }
  if (!batch.empty() && !ensure_connection(worker)) {
    // The writes' transaction lost the connection and a new one could not be made.
    for (Job& job : batch) job.status = JobStatus::database_unavailable;
  } else if (batch.size() == 1) {
    run_alone(worker, batch.front());
  } else if (batch.size() > 1 && !try_batch(worker, batch)) {
    // A stale pooled connection gets one fresh try, as in run_alone.
    if (!ensure_connection(worker) || !try_batch(worker, batch)) {
      for (Job& job : batch) job.status = JobStatus::database_unavailable;
    }
  }
  if (!batch.empty()) ++batches_;
  if (!worker.connection || !worker.connection->is_open()) reachable_ = false;
  for (Job& job : all) {
    if (job.item) job.done(job.status, job.error);
  }
  for (Job& job : batch) job.done(job.status, job.error);
}

}  // namespace loyalty::db
