#include "api/auth_refusals.hpp"

#include <vector>

#include "api/limits.hpp"
#include "platform/database.hpp"
#include "platform/log.hpp"

namespace loyalty::api {
namespace {

const db::Statement upsert_refusals{
    "auth_refusals.upsert",
    "INSERT INTO auth_refusals (window_start, source_address, key_id, code, route, refusals, first_at, last_at)"
    " SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[],"
    " $7::timestamptz[], $8::timestamptz[])"
    " ON CONFLICT (window_start, source_address, key_id, code, route) DO UPDATE SET"
    " refusals = auth_refusals.refusals + EXCLUDED.refusals,"
    " first_at = least(auth_refusals.first_at, EXCLUDED.first_at),"
    " last_at = greatest(auth_refusals.last_at, EXCLUDED.last_at)"};

}  // namespace

RefusalLog::RefusalLog(std::string database_url) : database_url_(std::move(database_url)) {
  if (!database_url_.empty()) thread_ = std::thread([this] { run(); });
}

RefusalLog::~RefusalLog() {
  {
    std::lock_guard lock{mutex_};
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void RefusalLog::merge(Counts& into, const RefusalKey& key, const Count& count) {
  auto found = into.find(key);
  if (found == into.end() && into.size() >= limits::refusal_counters_max) {
    // Bounded: a flood from many sources cannot grow the counters without limit.
    RefusalKey folded = key;
    folded.source_address = "*";
    folded.route = "*";
    folded.key_id = "";
    found = into.try_emplace(folded, Count{0, count.first_at, count.last_at}).first;
  } else if (found == into.end()) {
    found = into.try_emplace(key, Count{0, count.first_at, count.last_at}).first;
  }
  found->second.refusals += count.refusals;
  found->second.first_at = std::min(found->second.first_at, count.first_at);
  found->second.last_at = std::max(found->second.last_at, count.last_at);
}

void RefusalLog::add(const std::string& source_address, const std::string& key_id, const std::string& code,
                     const std::string& route, Timestamp at) {
  const auto since_epoch = at.time_since_epoch();
  const Timestamp window{since_epoch - since_epoch % std::chrono::microseconds{limits::refusal_window}};
  std::lock_guard lock{mutex_};
  merge(counts_, RefusalKey{window, source_address, key_id, code, route}, Count{1, at, at});
}

std::int64_t RefusalLog::unflushed() const {
  std::lock_guard lock{mutex_};
  std::int64_t total = 0;
  for (const auto& [key, count] : counts_) total += count.refusals;
  return total;
}

bool RefusalLog::flush() {
  std::lock_guard flushing{flush_mutex_};
  Counts taken;
  {
    std::lock_guard lock{mutex_};
    taken.swap(counts_);
  }
  if (taken.empty()) return true;
  if (database_url_.empty()) {
    std::lock_guard lock{mutex_};
    for (const auto& [key, count] : taken) merge(counts_, key, count);
    return false;
  }
  try {
    if (!connection_ || !connection_->is_open()) connection_ = db::connect(database_url_);
    std::vector<const Counts::value_type*> rows;
    for (const auto& item : taken) rows.push_back(&item);
    db::run_transaction(*connection_, "auth_refusals", [&](pqxx::transaction_base& txn) {
      db::exec(txn, upsert_refusals,
               db::array_literal(rows, [](auto* row) { return db::sql_time(row->first.window_start); }),
               db::array_literal(rows, [](auto* row) { return row->first.source_address; }),
               db::array_literal(rows, [](auto* row) { return row->first.key_id; }),
               db::array_literal(rows, [](auto* row) { return row->first.code; }),
               db::array_literal(rows, [](auto* row) { return row->first.route; }),
               db::array_literal(rows, [](auto* row) { return std::to_string(row->second.refusals); }),
               db::array_literal(rows, [](auto* row) { return db::sql_time(row->second.first_at); }),
               db::array_literal(rows, [](auto* row) { return db::sql_time(row->second.last_at); }));
      return true;
    });
    return true;
  } catch (const std::exception& error) {
    connection_.reset();
    log::warn("refused authentications not recorded yet", {{"error", error.what()}});
    std::lock_guard lock{mutex_};
    for (const auto& [key, count] : taken) merge(counts_, key, count);
    return false;
  }
}

void RefusalLog::run() {
  std::unique_lock lock{mutex_};
  while (!stopping_) {
    wake_.wait_for(lock, limits::refusal_flush_interval, [this] { return stopping_; });
    lock.unlock();
    flush();
    lock.lock();
  }
}

}  // namespace loyalty::api
