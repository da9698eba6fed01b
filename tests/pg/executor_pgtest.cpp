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
#include <thread>
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

}  // namespace
}  // namespace loyalty
