// The database executor's gathering turn (platform/executor.hpp): writes that arrive while one
// batch gathers and takes its locks wait, and then meet in one batch whichever worker their key
// routes them to; the batch holds them in the order they arrived. And the batch's transaction,
// whose last writes travel with its COMMIT.
#include "platform/executor.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "platform/database.hpp"
#include "tests/support/test_database.hpp"

namespace loyalty {
namespace {

struct Numbered : db::BatchItem {
  explicit Numbered(int n) : number(n) {}
  int number;
};

// An applier that records every batch and, for the first one, holds the turn until released.
struct RecordingApplier {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::vector<int>> batches;
  bool first_may_lock = false;

  void apply(pqxx::transaction_base&, const std::vector<db::BatchItem*>& items, const std::function<void()>& locked) {
    std::unique_lock lock{mutex};
    std::vector<int> numbers;
    for (auto* item : items) numbers.push_back(static_cast<Numbered*>(item)->number);
    const bool first = batches.empty();
    batches.push_back(numbers);
    changed.notify_all();
    if (first) changed.wait(lock, [&] { return first_may_lock; });
    lock.unlock();
    locked();
  }
};

TEST(Executor, WritesThatArriveWhileABatchGathersMeetInOneBatchInTheOrderTheyArrived) {
  RecordingApplier applier;
  db::ExecutorOptions options;
  options.database_url = testing::TestDatabase::instance().url();
  options.workers = 4;
  options.batch_jobs_max = 64;
  options.apply_batch = [&](pqxx::transaction_base& txn, const std::vector<db::BatchItem*>& items,
                            const std::function<void()>& locked) { applier.apply(txn, items, locked); };
  db::Executor executor{options};

  std::vector<std::promise<db::JobStatus>> done(9);
  const auto submit = [&](std::uint64_t key, int n) {
    executor.submit(key, std::make_shared<Numbered>(n),
                    [&done, n](db::JobStatus status, std::exception_ptr) { done[n].set_value(status); });
  };
  submit(0, 0);  // the first batch: it holds the turn until the test lets it lock
  {
    std::unique_lock lock{applier.mutex};
    ASSERT_TRUE(applier.changed.wait_for(lock, std::chrono::seconds(10), [&] { return applier.batches.size() == 1; }));
  }
  // Eight writes routed to all four workers arrive while the first batch has the turn.
  for (int n = 1; n <= 8; ++n) submit(static_cast<std::uint64_t>(n), n);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  {
    std::lock_guard lock{applier.mutex};
    EXPECT_EQ(applier.batches.size(), 1u) << "a batch began while another held the gathering turn";
    applier.first_may_lock = true;
    applier.changed.notify_all();
  }
  for (auto& promise : done) {
    auto future = promise.get_future();
    ASSERT_EQ(future.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    EXPECT_EQ(future.get(), db::JobStatus::finished);
  }
  std::lock_guard lock{applier.mutex};
  ASSERT_EQ(applier.batches.size(), 2u) << "the writes that waited did not meet in one batch";
  EXPECT_EQ(applier.batches[0], std::vector<int>({0}));
  EXPECT_EQ(applier.batches[1], std::vector<int>({1, 2, 3, 4, 5, 6, 7, 8}));
}

// Batches of writes run planned once per connection and by key (plan_cache_mode and
// enable_seqscan, ExecutorOptions::generic_plans_for_writes); other jobs on the same worker's
// connection, before and after, have PostgreSQL's own choice.
TEST(Executor, BatchesOfWritesArePlannedOnceAndByKeyAndOtherJobsKeepPostgresqlsChoice) {
  using Settings = std::pair<std::string, std::string>;
  const auto settings = [](pqxx::transaction_base& txn) {
    return Settings{txn.exec("SHOW plan_cache_mode")[0][0].c_str(), txn.exec("SHOW enable_seqscan")[0][0].c_str()};
  };
  std::promise<Settings> in_batch;
  db::ExecutorOptions options;
  options.database_url = testing::TestDatabase::instance().url();
  options.workers = 1;
  options.apply_batch = [&](pqxx::transaction_base& txn, const std::vector<db::BatchItem*>&,
                            const std::function<void()>& locked) {
    locked();
    in_batch.set_value(settings(txn));
  };
  db::Executor executor{options};
  const auto in_job = [&] {
    auto seen = std::make_shared<std::promise<Settings>>();
    auto future = seen->get_future();
    executor.submit(
        0,
        [seen, &settings](pqxx::transaction_base& txn) {
          seen->set_value(settings(txn));
          return true;
        },
        [](db::JobStatus, std::exception_ptr) {});
    EXPECT_EQ(future.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    return future.get();
  };
  EXPECT_EQ(in_job(), Settings("auto", "on"));
  executor.submit(0, std::make_shared<Numbered>(1), [](db::JobStatus, std::exception_ptr) {});
  auto batch = in_batch.get_future();
  ASSERT_EQ(batch.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(batch.get(), Settings("force_generic_plan", "off"));
  EXPECT_EQ(in_job(), Settings("auto", "on"));
}

// The batch's last writes travel with its COMMIT (db::BatchTransaction): they commit with it,
// and when one fails nothing of the transaction is committed and the connection goes on.
TEST(BatchTransaction, WritesSentWithTheCommitCommitWithItOrNotAtAll) {
  auto connection = testing::TestDatabase::instance().connect();
  {
    pqxx::nontransaction setup{*connection};
    setup.exec("CREATE TEMP TABLE sent_with_commit (id integer PRIMARY KEY)");
  }
  {
    db::BatchTransaction txn{*connection};
    txn.exec("INSERT INTO sent_with_commit VALUES (1)");
    txn.send_with_commit("INSERT INTO sent_with_commit VALUES (2);\n");
    txn.commit();
  }
  {
    db::BatchTransaction txn{*connection};
    txn.exec("INSERT INTO sent_with_commit VALUES (3)");
    txn.send_with_commit("INSERT INTO sent_with_commit VALUES (1);\n");  // taken: fails
    EXPECT_THROW(txn.commit(), pqxx::unique_violation);
  }
  pqxx::work check{*connection};
  EXPECT_EQ(check.exec("SELECT string_agg(id::text, ',' ORDER BY id) FROM sent_with_commit")[0][0].as<std::string>(),
            "1,2");
}

const db::Statement insert_began{"test_insert_began", "INSERT INTO began_with_first (id) VALUES ($1) RETURNING id"};

// A BatchTransaction's BEGIN travels with its first statement, whichever way that statement is
// sent: what it did is undone with the transaction, so it ran inside it.
TEST(BatchTransaction, TheFirstStatementCarriesTheBeginWhicheverWayItIsSent) {
  auto connection = testing::TestDatabase::instance().connect();
  {
    pqxx::nontransaction setup{*connection};
    setup.exec("CREATE TEMP TABLE began_with_first (id integer PRIMARY KEY)");
  }
  const auto ignore = [](const pqxx::result&) {};
  {
    db::BatchTransaction txn{*connection};  // a ReadBatch first; never committed
    db::ReadBatch reads{txn};
    reads.add(insert_began, ignore, std::int64_t{1});
    reads.run();
  }
  {
    db::BatchTransaction txn{*connection};  // exec() first
    txn.exec("INSERT INTO began_with_first VALUES (2)");
  }
  {
    db::BatchTransaction txn{*connection};  // db::exec (exec_prepared) first
    db::exec(txn, insert_began, 3);
  }
  {
    db::BatchTransaction txn{*connection};  // a WriteBuffer's flush first
    db::WriteBuffer writes{txn};
    writes.add(insert_began, std::int64_t{4});
    writes.flush();
  }
  {
    db::BatchTransaction txn{*connection};
    db::ReadBatch reads{txn};
    reads.add(insert_began, ignore, std::int64_t{5});
    reads.run();
    txn.exec("INSERT INTO began_with_first VALUES (6)");
    txn.commit();
  }
  {
    db::BatchTransaction txn{*connection};  // sent nothing: commits without a word
    txn.commit();
  }
  {
    db::BatchTransaction txn{*connection};  // only writes with the COMMIT
    txn.send_with_commit("INSERT INTO began_with_first VALUES (7);\n");
    txn.commit();
  }
  pqxx::work check{*connection};
  EXPECT_EQ(check.exec("SELECT string_agg(id::text, ',' ORDER BY id) FROM began_with_first")[0][0].as<std::string>(),
            "5,6,7");
}

// A connection that went while idle in the pool is found by the batch's first round trip, which
// then says so as a failed BEGIN did (broken_connection): the executor's cue to try once more
// on a fresh connection, since nothing was committed.
TEST(BatchTransaction, AConnectionGoneBeforeTheFirstRoundTripIsABrokenConnection) {
  auto connection = testing::TestDatabase::instance().connect();
  const auto ignore = [](const pqxx::result&) {};
  {
    pqxx::nontransaction setup{*connection};
    setup.exec("CREATE TEMP TABLE began_with_first (id integer PRIMARY KEY)");
  }
  {
    db::BatchTransaction txn{*connection};  // prepares the statement, as a pooled connection has
    db::ReadBatch reads{txn};
    reads.add(insert_began, ignore, std::int64_t{1});
    reads.run();
  }
  const int pid = connection->backendpid();
  {
    auto other = testing::TestDatabase::instance().connect();
    pqxx::nontransaction txn{*other};
    txn.exec("SELECT pg_terminate_backend(" + std::to_string(pid) + ")");
    for (int i = 0; i < 100; ++i) {
      if (txn.exec("SELECT 1 FROM pg_stat_activity WHERE pid = " + std::to_string(pid)).empty()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  db::BatchTransaction txn{*connection};
  db::ReadBatch reads{txn};
  reads.add(insert_began, ignore, std::int64_t{2});
  EXPECT_THROW(reads.run(), pqxx::broken_connection);
}

}  // namespace
}  // namespace loyalty
